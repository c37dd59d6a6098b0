"""The store's schema as numbered migrations. Each domain adds its own migrations here, in order.

A migration runs once, in a transaction with its row in ``schema_migrations``.
Never edit a released migration: add the next number.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "history tables: logs, events, metrics, roll-ups, ingest checkpoints",
        """
        CREATE TABLE logs (
            id BIGINT NOT NULL,            -- assigned by the writer, increasing
            ts TIMESTAMPTZ,                -- event time from the line's header (NULL when none)
            ingested_at TIMESTAMPTZ NOT NULL,
            host VARCHAR,
            source VARCHAR NOT NULL,       -- file path or stream name
            app VARCHAR,
            pid VARCHAR,
            level VARCHAR,                 -- emergency|alert|critical|error|warning|notice|info|debug|trace
            message VARCHAR,
            raw VARCHAR NOT NULL,
            template_id UINTEGER
        );
        CREATE TABLE events (
            ts TIMESTAMPTZ,
            host VARCHAR,
            source VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            fields MAP(VARCHAR, VARCHAR),  -- the rule's named captures
            log_id BIGINT NOT NULL         -- logs.id of the line
        );
        CREATE TABLE metrics (
            ts TIMESTAMPTZ NOT NULL,
            host VARCHAR,
            name VARCHAR NOT NULL,
            labels MAP(VARCHAR, VARCHAR),
            value DOUBLE
        );
        CREATE TABLE metrics_1m (
            ts TIMESTAMPTZ NOT NULL,       -- start of the minute
            host VARCHAR,
            name VARCHAR NOT NULL,
            labels MAP(VARCHAR, VARCHAR),
            min DOUBLE, max DOUBLE, avg DOUBLE, count BIGINT, last DOUBLE
        );
        CREATE TABLE ingest_checkpoints (
            source VARCHAR NOT NULL,       -- file path or stream name as given
            head_hash VARCHAR NOT NULL,    -- sha256 of the first 4 KiB: finds candidates
            bytes_done BIGINT NOT NULL,    -- content bytes stored so far (decompressed)
            prefix_hash VARCHAR NOT NULL,  -- sha256 of those bytes: proves same content
            lines_done BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE engine_state (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        );
        """,
    ),
]
