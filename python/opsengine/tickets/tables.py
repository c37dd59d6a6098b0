"""The service desk's tables (migrations 13 and 14). Portable SQL: JSON as VARCHAR text,
timestamps as UTC TIMESTAMPTZ, no DuckDB-only column types."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        13,
        "tickets: calendars, SLA policies, queues, tickets, history, comments, attachments, links",
        """
        CREATE TABLE calendars (
            name VARCHAR PRIMARY KEY,
            spec VARCHAR NOT NULL,         -- JSON {timezone, hours, holidays, exceptions}
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE sla_policies (
            name VARCHAR PRIMARY KEY,
            calendar VARCHAR NOT NULL,
            targets VARCHAR NOT NULL,      -- JSON {P1: {first_response: "1h", resolution: "8h"}}
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE ticket_queues (
            name VARCHAR PRIMARY KEY,
            sla_policy VARCHAR,            -- the policy of the queue's tickets
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE tickets (
            id BIGINT PRIMARY KEY,
            subject VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            requester_name VARCHAR,
            requester_email VARCHAR NOT NULL,
            category VARCHAR,
            priority VARCHAR NOT NULL,     -- P1..P5
            queue VARCHAR NOT NULL,
            assignee VARCHAR,
            tags VARCHAR NOT NULL,         -- JSON list
            status VARCHAR NOT NULL,       -- new | open | pending | solved | closed
            sla_policy VARCHAR,            -- named on the ticket; NULL: its queue's
            source VARCHAR NOT NULL,       -- api | email | cli | import
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            first_response_at TIMESTAMPTZ,
            solved_at TIMESTAMPTZ,         -- the last solve (cleared on reopen)
            closed_at TIMESTAMPTZ,
            reopened INTEGER NOT NULL,     -- times reopened from solved
            merged_into BIGINT,
            -- the SLA as last recomputed (reads recompute it; queries use these)
            sla_applied VARCHAR,           -- the policy in force
            first_response_due TIMESTAMPTZ,
            resolution_due TIMESTAMPTZ,
            first_response_breached BOOLEAN NOT NULL,
            resolution_breached BOOLEAN NOT NULL,
            sla_paused BOOLEAN NOT NULL
        );
        CREATE TABLE ticket_history (
            id BIGINT PRIMARY KEY,
            ticket_id BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            actor VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,         -- created | status | field | reply | note | link | merge | escalated | sla | csat
            detail VARCHAR                 -- JSON
        );
        CREATE TABLE ticket_comments (
            id BIGINT PRIMARY KEY,
            ticket_id BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            author VARCHAR NOT NULL,
            public BOOLEAN NOT NULL,       -- a reply the requester sees, or an internal note
            body VARCHAR NOT NULL,
            via VARCHAR NOT NULL           -- api | email | system | cli
        );
        CREATE TABLE ticket_attachments (
            id BIGINT PRIMARY KEY,
            ticket_id BIGINT NOT NULL,
            comment_id BIGINT,
            name VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            content_type VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE ticket_links (
            ticket_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,         -- incident | problem
            ref_id BIGINT NOT NULL,
            auto_solve BOOLEAN NOT NULL,   -- solve the ticket when the incident resolves
            linked_by VARCHAR NOT NULL,
            linked_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (ticket_id, kind, ref_id)
        );
        CREATE TABLE ticket_sla_alerts (
            ticket_id BIGINT NOT NULL,
            target VARCHAR NOT NULL,       -- first_response | resolution
            level VARCHAR NOT NULL,        -- warning | breach
            active_since TIMESTAMPTZ NOT NULL,  -- the alert instance raised
            resolved_at TIMESTAMPTZ,
            PRIMARY KEY (ticket_id, target, level)
        );
        """,
    ),
    (
        14,
        "ticket satisfaction surveys (CSAT): one per solved ticket, answered once",
        """
        CREATE TABLE csat_surveys (
            ticket_id BIGINT PRIMARY KEY,
            nonce VARCHAR NOT NULL,        -- in the signed token; a new survey gets a new one
            queue VARCHAR NOT NULL,
            requested_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            rating INTEGER,                -- 1..5, NULL until answered
            comment VARCHAR,
            answered_at TIMESTAMPTZ
        );
        """,
    ),
]
