"""The configuration-management and inventory tables (migrations 10, 11 and 12).

Portable SQL (PostgreSQL runs them later): standard types, JSON as VARCHAR text, UTC
TIMESTAMPTZ. File content is stored once per SHA-256 (``config_blobs``); a version is a
set of files (``config_version_files``) with their metadata.
"""

from __future__ import annotations

TABLES: list[tuple[int, str, str]] = [
    (
        10,
        "configuration: tracked items, content by hash, versions, baselines and the change trail",
        """
        CREATE TABLE config_items (
            id BIGINT PRIMARY KEY,
            name VARCHAR NOT NULL,
            env VARCHAR NOT NULL,          -- prod | staging | any label
            host VARCHAR,                  -- where the files live (NULL: this host)
            paths VARCHAR NOT NULL,        -- JSON list of paths or globs
            vary VARCHAR NOT NULL,         -- JSON list of keys expected to differ across envs
            severity VARCHAR NOT NULL,     -- of its drift alerts
            origin VARCHAR NOT NULL,       -- config (opsengine.toml) | api | cli
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (name, env)
        );
        CREATE TABLE config_blobs (
            hash VARCHAR PRIMARY KEY,      -- hex SHA-256 of the bytes
            size BIGINT NOT NULL,
            is_binary BOOLEAN NOT NULL,    -- binary content is kept as its hash only
            content VARCHAR,               -- the text (NULL when binary)
            format VARCHAR,                -- json | yaml | toml | ini | env | keyvalue | sshd | text
            keys VARCHAR,                  -- JSON {dotted.key: json value}; NULL when unparsed
            parse_error VARCHAR,           -- why it did not parse (file and line)
            stored_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE config_versions (
            item_id BIGINT NOT NULL,
            version INTEGER NOT NULL,      -- 1, 2, ... per item
            hash VARCHAR NOT NULL,         -- over the files' paths, hashes, modes and owners
            taken_at TIMESTAMPTZ NOT NULL,
            author VARCHAR NOT NULL,       -- the API user or CLI user, or 'file system'
            files INTEGER NOT NULL,
            errors INTEGER NOT NULL,       -- files recorded with an error
            PRIMARY KEY (item_id, version)
        );
        CREATE TABLE config_version_files (
            item_id BIGINT NOT NULL,
            version INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            blob_hash VARCHAR,             -- config_blobs.hash; NULL when not read
            size BIGINT,
            mode VARCHAR,                  -- octal permission bits, e.g. 0644
            owner VARCHAR,                 -- user:group
            mtime TIMESTAMPTZ,
            error VARCHAR,                 -- unreadable, too large, symlink loop: names the path
            PRIMARY KEY (item_id, version, path)
        );
        CREATE TABLE config_baselines (
            item_id BIGINT PRIMARY KEY,
            version INTEGER NOT NULL,
            approved_by VARCHAR NOT NULL,
            approved_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE config_changes (
            id BIGINT PRIMARY KEY,
            ts TIMESTAMPTZ NOT NULL,
            kind VARCHAR NOT NULL,         -- tracked | changed | approved
            item_id BIGINT NOT NULL,
            item VARCHAR NOT NULL,
            env VARCHAR NOT NULL,
            host VARCHAR,
            from_version INTEGER,
            to_version INTEGER,
            actor VARCHAR NOT NULL,        -- who, where known; 'file system' otherwise
            approved BOOLEAN NOT NULL,     -- the new version is the item's baseline
            key_changes VARCHAR,           -- JSON [{key, change, old, new}]
            diff VARCHAR                   -- unified diff (clipped)
        );
        CREATE INDEX config_changes_ts ON config_changes (ts);
        """,
    ),
    (
        11,
        "inventory: software and hardware per host, current and its history",
        """
        CREATE TABLE inventory_items (
            host VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,         -- deb | python | process | port | cpu | memory | disk | filesystem | nic
            name VARCHAR NOT NULL,
            version VARCHAR,               -- package version; NULL for hardware
            detail VARCHAR NOT NULL,       -- JSON: architecture, path, size, ...
            first_seen TIMESTAMPTZ NOT NULL,
            last_seen TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (host, kind, name)
        );
        CREATE TABLE inventory_changes (
            ts TIMESTAMPTZ NOT NULL,
            host VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            change VARCHAR NOT NULL,       -- appeared | changed | gone
            old_version VARCHAR,
            new_version VARCHAR,
            old_detail VARCHAR,
            new_detail VARCHAR
        );
        CREATE TABLE inventory_runs (
            host VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            kinds VARCHAR NOT NULL,        -- JSON list of the kinds collected
            items INTEGER NOT NULL,
            errors VARCHAR NOT NULL        -- JSON list of what could not be read
        );
        """,
    ),
    (
        12,
        "version policies and their compliance results",
        """
        CREATE TABLE version_policies (
            expression VARCHAR PRIMARY KEY, -- e.g. 'openssl >= 3.0.13', 'python:requests >= 2.32'
            severity VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,       -- config | api | cli
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE compliance_results (
            expression VARCHAR NOT NULL,
            host VARCHAR NOT NULL,
            package VARCHAR NOT NULL,
            ecosystem VARCHAR NOT NULL,    -- deb | python
            installed VARCHAR,             -- NULL: not installed
            status VARCHAR NOT NULL,       -- compliant | violation | not_installed
            checked_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (expression, host)
        );
        """,
    ),
]
