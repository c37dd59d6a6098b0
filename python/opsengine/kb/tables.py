"""The knowledge base's tables (migration 15). The search index is a tantivy directory
beside the database, rebuilt from these tables whenever it is missing or behind."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        15,
        "knowledge base: articles, their links to known errors and problems, reader feedback",
        """
        CREATE TABLE kb_articles (
            id BIGINT PRIMARY KEY,
            title VARCHAR NOT NULL,
            body VARCHAR NOT NULL,         -- Markdown
            tags VARCHAR NOT NULL,         -- JSON list
            state VARCHAR NOT NULL,        -- draft | published
            author VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            views BIGINT NOT NULL
        );
        CREATE TABLE kb_article_links (
            article_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,         -- known_error | problem
            ref_id BIGINT NOT NULL,
            PRIMARY KEY (article_id, kind, ref_id)
        );
        CREATE TABLE kb_feedback (
            id BIGINT PRIMARY KEY,
            article_id BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            helpful BOOLEAN NOT NULL,
            ticket_id BIGINT,              -- the ticket it was suggested for: helpful = deflected
            actor VARCHAR NOT NULL,
            comment VARCHAR
        );
        """,
    ),
]
