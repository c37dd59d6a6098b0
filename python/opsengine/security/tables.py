"""The security tables (migrations 20, 21 and 22): findings, their history, scans and
the event detections' position.

Portable SQL (PostgreSQL runs them later): standard types, JSON as VARCHAR text, UTC
TIMESTAMPTZ. A finding is one row per (kind, subject, cause): recurrences update it.
"""

from __future__ import annotations

TABLES: list[tuple[int, str, str]] = [
    (
        20,
        "security findings with their lifecycle and history",
        """
        CREATE TABLE security_findings (
            id BIGINT PRIMARY KEY,
            kind VARCHAR NOT NULL,           -- detection | vulnerability | hardening
            subject VARCHAR NOT NULL,        -- host, package, file, source IP or user
            cause VARCHAR NOT NULL,          -- advisory id, rule or check name
            host VARCHAR,
            severity VARCHAR NOT NULL,       -- critical | high | medium | low | info
            title VARCHAR NOT NULL,
            state VARCHAR NOT NULL,          -- open | acknowledged | mitigated | accepted_risk | false_positive
            evidence VARCHAR NOT NULL,       -- JSON: the advisory, log lines, file and line
            first_seen TIMESTAMPTZ NOT NULL,
            last_seen TIMESTAMPTZ NOT NULL,
            occurrences BIGINT NOT NULL,     -- times seen (scans or detections)
            suppressed BIGINT NOT NULL,      -- recurrences while a false positive
            accepted_until TIMESTAMPTZ,      -- accepted_risk: reopens after this
            incident_id BIGINT,              -- the security incident it opened
            updated_at TIMESTAMPTZ NOT NULL,
            closed_at TIMESTAMPTZ,
            UNIQUE (kind, subject, cause)
        );
        CREATE TABLE security_finding_history (
            id BIGINT PRIMARY KEY,
            finding_id BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            actor VARCHAR NOT NULL,          -- the API key's actor, the CLI user or 'scanner'
            action VARCHAR NOT NULL,         -- opened | seen | acknowledge | mitigate | ... | suppressed
            from_state VARCHAR,
            to_state VARCHAR,
            reason VARCHAR,
            detail VARCHAR                   -- JSON
        );
        CREATE INDEX security_finding_history_finding ON security_finding_history (finding_id);
        """,
    ),
    (
        21,
        "security scans: what each audit read, skipped and changed",
        """
        CREATE TABLE security_scans (
            id BIGINT PRIMARY KEY,
            ts TIMESTAMPTZ NOT NULL,
            actor VARCHAR NOT NULL,
            osv_dir VARCHAR,
            advisories INTEGER NOT NULL,     -- advisories read (withdrawn ones not counted)
            withdrawn INTEGER NOT NULL,
            skipped VARCHAR NOT NULL,        -- JSON [{file, error}]: malformed advisories
            packages INTEGER NOT NULL,       -- installed packages matched against them
            opened INTEGER NOT NULL,
            closed INTEGER NOT NULL,
            errors VARCHAR NOT NULL          -- JSON list: inventory or check errors
        );
        """,
    ),
    (
        22,
        "security positions: how far the event detections have read",
        """
        CREATE TABLE security_positions (
            name VARCHAR PRIMARY KEY,        -- events
            position BIGINT NOT NULL         -- the last log_id read
        );
        """,
    ),
]
