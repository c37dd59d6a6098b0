"""The store's schema as numbered migrations. Each domain adds its own migrations here, in order.

A migration runs once, in a transaction with its row in ``schema_migrations``: SQL text,
or a function of the cursor where data must move through the core.
Never edit a released migration: add the next number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsengine.config_mgmt.tables import TABLES as CONFIG_MGMT_TABLES
from opsengine.kb.tables import MIGRATIONS as KB_MIGRATIONS
from opsengine.security.tables import TABLES as SECURITY_TABLES
from opsengine.store.history_migration import move_history_into_segments
from opsengine.store.redacted_views import TABLES as REDACTED_VIEWS
from opsengine.store.segments import CATALOG_DDL
from opsengine.tickets.tables import MIGRATIONS as TICKET_MIGRATIONS


def _metric_series(cur) -> None:
    """Split ``metrics`` into ``metric_series`` and ``metric_samples``; ``metrics`` becomes a view.

    A series' identity (host, name, labels) is kept once; a sample is three fixed-width
    columns, so appending never converts a label map (see store/metric_store.py). Existing
    rows move over with the same series ids the live path computes.
    """
    from opsengine.store.metric_store import METRIC_SERIES_DDL, METRICS_VIEW_DDL, move_samples

    existing = cur.sql("SELECT ts, host, name, labels, value FROM metrics").to_arrow_table()
    cur.execute(METRIC_SERIES_DDL)
    move_samples(cur, existing)
    cur.execute("DROP TABLE metrics")
    cur.execute(METRICS_VIEW_DDL)


MIGRATIONS: list[tuple[int, str, str | Callable[[Any], None]]] = [
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
    (
        2,
        "log templates: the miner's shapes, their per-minute counts and the miner's state",
        """
        CREATE TABLE log_templates (
            id UINTEGER PRIMARY KEY,       -- logs.template_id
            template VARCHAR NOT NULL,     -- variables as <*>; may generalise over time
            first_seen TIMESTAMPTZ,        -- event time of the first line of this shape
            last_seen TIMESTAMPTZ,
            count UBIGINT NOT NULL,        -- lines stored with this template
            example VARCHAR                -- the first line's message
        );
        -- Appended per batch, so one minute may have several rows: sum them.
        CREATE TABLE log_template_counts_1m (
            minute TIMESTAMPTZ NOT NULL,   -- event time (ingest time for lines without one)
            template_id UINTEGER NOT NULL,
            source VARCHAR NOT NULL,
            count BIGINT NOT NULL
        );
        CREATE TABLE template_miner_state (
            id INTEGER PRIMARY KEY,        -- always 1
            state BLOB NOT NULL,           -- TemplateMiner.save()
            templates UINTEGER NOT NULL,
            saved_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        3,
        "alerts: one row per alert instance, updated on each state change",
        """
        CREATE TABLE alerts (
            fingerprint VARCHAR NOT NULL,  -- rule + labels, see opsengine.alerts.fingerprint
            rule VARCHAR NOT NULL,
            state VARCHAR NOT NULL,        -- pending | firing | resolved
            labels MAP(VARCHAR, VARCHAR),
            annotations MAP(VARCHAR, VARCHAR),
            value DOUBLE,
            active_since TIMESTAMPTZ NOT NULL,  -- first evidence
            fired_at TIMESTAMPTZ,
            resolved_at TIMESTAMPTZ,
            severity VARCHAR,
            category VARCHAR,
            source VARCHAR NOT NULL,       -- metric | log | probe | alertmanager | api
            updated_at TIMESTAMPTZ NOT NULL,  -- event time of the last change
            PRIMARY KEY (fingerprint, active_since)
        );
        """,
    ),
    (
        4,
        "sources: file tail checkpoints, probe results",
        """
        CREATE TABLE file_checkpoints (
            fingerprint VARCHAR PRIMARY KEY,  -- sha256 of the file's first line: its identity
            watch VARCHAR NOT NULL,        -- the configured path or glob that found it
            path VARCHAR NOT NULL,         -- where it was last seen (it moves on rotation)
            offset_bytes BIGINT NOT NULL,  -- content bytes stored (decompressed for .gz)
            lines BIGINT NOT NULL,         -- records stored from it
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE probe_results (
            ts TIMESTAMPTZ NOT NULL,       -- when the check started
            service VARCHAR NOT NULL,      -- the check's name
            kind VARCHAR NOT NULL,         -- http | tcp
            target VARCHAR NOT NULL,       -- URL or host:port
            ok BOOLEAN NOT NULL,
            status INTEGER,                -- HTTP status code
            latency_ms DOUBLE,
            cert_days_left DOUBLE,         -- days until the TLS certificate expires
            error VARCHAR                  -- why it failed (NULL when ok)
        );
        """,
    ),
    (
        5,
        "incidents, timeline, silences, maintenance, escalation, on-call, notifications, problems",
        """
        CREATE TABLE incidents (
            id BIGINT PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,  -- of the alert that opened it
            rule VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            category VARCHAR NOT NULL,     -- outage | degraded performance | error | security breach | config
            impact VARCHAR NOT NULL,       -- high | medium | low
            urgency VARCHAR NOT NULL,      -- high | medium | low
            priority VARCHAR NOT NULL,     -- P1..P5, see opsengine.incidents.priority
            state VARCHAR NOT NULL,        -- triggered | acknowledged | resolved | closed
            service VARCHAR,
            host VARCHAR,
            labels MAP(VARCHAR, VARCHAR),
            assignee VARCHAR,
            alert_count BIGINT NOT NULL,   -- alert instances behind it (repeats and grouped alerts)
            auto_resolve BOOLEAN NOT NULL, -- resolve itself when all its alerts resolve
            flap_count INTEGER NOT NULL,   -- reopenings by alerts within the flap window
            flapping BOOLEAN NOT NULL,     -- damped: notifications held while it flaps
            suppressed_by VARCHAR,         -- silence/maintenance/inhibition that muted it
            known_error_id BIGINT,
            started_at TIMESTAMPTZ NOT NULL,  -- first evidence (alert active_since)
            detected_at TIMESTAMPTZ NOT NULL, -- the alert fired
            acknowledged_at TIMESTAMPTZ,
            resolved_at TIMESTAMPTZ,
            closed_at TIMESTAMPTZ,
            last_seen_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE incident_alerts (
            incident_id BIGINT NOT NULL,
            fingerprint VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            active_since TIMESTAMPTZ NOT NULL, -- the alert instance
            state VARCHAR NOT NULL,            -- firing | resolved
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (incident_id, fingerprint, active_since)
        );
        CREATE TABLE incident_events (
            id BIGINT PRIMARY KEY,
            incident_id BIGINT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,       -- when it happened (event time for alert-driven changes)
            actor VARCHAR NOT NULL,        -- user name, or system
            kind VARCHAR NOT NULL,         -- opened | repeated | grouped | state | assigned | note | ...
            detail VARCHAR                 -- JSON
        );
        CREATE TABLE silences (
            id BIGINT PRIMARY KEY,
            matchers VARCHAR NOT NULL,     -- JSON [[name, op, value], ...]
            starts_at TIMESTAMPTZ NOT NULL,
            ends_at TIMESTAMPTZ NOT NULL,
            author VARCHAR NOT NULL,
            comment VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE maintenance_windows (
            id BIGINT PRIMARY KEY,
            name VARCHAR NOT NULL,
            matchers VARCHAR NOT NULL,     -- JSON [[name, op, value], ...]
            starts_at TIMESTAMPTZ NOT NULL,
            ends_at TIMESTAMPTZ NOT NULL,
            author VARCHAR NOT NULL,
            comment VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE escalation_policies (
            name VARCHAR PRIMARY KEY,
            matchers VARCHAR NOT NULL,     -- JSON; the first policy (by name) that matches applies
            levels VARCHAR NOT NULL,       -- JSON [{targets: [...], delay: seconds}, ...]
            repeat INTEGER NOT NULL,       -- extra passes through all levels
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE escalations (
            incident_id BIGINT PRIMARY KEY,
            policy VARCHAR NOT NULL,
            level INTEGER NOT NULL,
            pass INTEGER NOT NULL,
            next_at TIMESTAMPTZ,           -- NULL once the policy is exhausted or stopped
            state VARCHAR NOT NULL         -- active | stopped | exhausted
        );
        CREATE TABLE schedules (
            name VARCHAR PRIMARY KEY,
            rotation VARCHAR NOT NULL,     -- daily | weekly
            members VARCHAR NOT NULL,      -- JSON list of user names, in rotation order
            start_date DATE NOT NULL,      -- local date of the first hand-off
            handoff VARCHAR NOT NULL,      -- local time HH:MM
            timezone VARCHAR NOT NULL,     -- IANA name, e.g. Europe/Berlin
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE schedule_overrides (
            id BIGINT PRIMARY KEY,
            schedule VARCHAR NOT NULL,
            user_name VARCHAR NOT NULL,
            starts_at TIMESTAMPTZ NOT NULL,
            ends_at TIMESTAMPTZ NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE notification_channels (
            name VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,         -- webhook | slack | email
            owner VARCHAR,                 -- the user it reaches (for on-call targets)
            config VARCHAR NOT NULL,       -- JSON: url, or smtp host/port/from/to; no secrets
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE notifications (
            key VARCHAR PRIMARY KEY,       -- idempotency key, written before the first send
            incident_id BIGINT NOT NULL,
            channel VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,       -- triggered | escalated:L | resolved | ...
            payload VARCHAR NOT NULL,      -- JSON, as sent
            state VARCHAR NOT NULL,        -- pending | sending | sent | failed | in_doubt | suppressed
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            sent_at TIMESTAMPTZ,
            last_error VARCHAR
        );
        CREATE TABLE notification_attempts (
            key VARCHAR NOT NULL,
            attempt INTEGER NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            outcome VARCHAR NOT NULL,      -- started | sent | failed | in_doubt
            error VARCHAR,
            PRIMARY KEY (key, attempt)
        );
        CREATE TABLE problems (
            id BIGINT PRIMARY KEY,
            title VARCHAR NOT NULL,
            state VARCHAR NOT NULL,        -- proposed | open | known_error | resolved | closed
            fingerprint VARCHAR,           -- set when proposed from recurring incidents
            root_cause VARCHAR,
            workaround VARCHAR,
            permanent_fix VARCHAR,
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE problem_incidents (
            problem_id BIGINT NOT NULL,
            incident_id BIGINT NOT NULL,
            linked_by VARCHAR NOT NULL,
            linked_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (problem_id, incident_id)
        );
        CREATE TABLE known_errors (
            id BIGINT PRIMARY KEY,
            title VARCHAR NOT NULL,
            symptoms VARCHAR NOT NULL,
            workaround VARCHAR,
            resolution VARCHAR,
            rules VARCHAR NOT NULL,        -- JSON list of rule names it covers
            fingerprints VARCHAR NOT NULL, -- JSON list of alert fingerprints it covers
            problem_id BIGINT,
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        6,
        "api keys (hashed tokens with roles) and the audit log of API writes and failed logins",
        """
        CREATE TABLE api_keys (
            id VARCHAR PRIMARY KEY,        -- public part of the token: oek_<id>_<secret>
            name VARCHAR NOT NULL,
            role VARCHAR NOT NULL,         -- viewer | operator | admin
            token_sha256 VARCHAR NOT NULL, -- hex SHA-256 of the whole token; the token is never stored
            created_at TIMESTAMPTZ NOT NULL,
            created_by VARCHAR NOT NULL,   -- key id of the admin, or cli / first-start
            revoked_at TIMESTAMPTZ,
            revoked_by VARCHAR
        );
        CREATE TABLE audit_log (
            ts TIMESTAMPTZ NOT NULL,
            actor VARCHAR NOT NULL,        -- key id, or anonymous when authentication failed
            actor_name VARCHAR,
            role VARCHAR,
            action VARCHAR NOT NULL,       -- METHOD /path, or a CLI command
            client VARCHAR,                -- remote address (cli for the command line)
            outcome VARCHAR NOT NULL,      -- ok | rejected | denied | unauthenticated | failed
            status INTEGER,                -- HTTP status
            detail VARCHAR                 -- why (never a secret)
        );
        """,
    ),
    (7, "metrics as series (labels once) and samples (ts, series id, value)", _metric_series),
    *REDACTED_VIEWS,
    (16, "history segments: the catalog of Parquet files behind logs and events", CATALOG_DDL),
    (
        17,
        "logs and events rows move into segments; the tables become views",
        move_history_into_segments,
    ),
    *CONFIG_MGMT_TABLES,
    *TICKET_MIGRATIONS,
    *KB_MIGRATIONS,
    *SECURITY_TABLES,
]
