"""Views of the tables that hold secrets, for user SQL (``/api/v1/sql``, ``opsengine sql``).

The SQL gate (``store/sql_gate.py``) refuses ``api_keys`` and ``notification_channels``
and names these views instead: every column but the secret ones (a key's token hash; a
channel's config, whose URL path and headers carry credentials; the API shows it redacted
at ``/api/v1/notification-channels``). Plain SQL views: portable to PostgreSQL.
"""

from __future__ import annotations

TABLES = [
    (
        8,
        "views of api_keys and notification_channels without their secrets, for user SQL",
        """
        CREATE VIEW api_keys_public AS
        SELECT id, name, role, created_at, created_by, revoked_at, revoked_by FROM api_keys;
        CREATE VIEW notification_channels_public AS
        SELECT name, kind, owner, updated_at FROM notification_channels;
        """,
    ),
]
