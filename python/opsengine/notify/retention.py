"""What incident retention asks of notify: which incidents it still works on, and deleting
its rows (escalations, notifications and their attempts) about incidents that go.

Registered with the incident service by :class:`~opsengine.notify.service.NotificationService`.
"""

from __future__ import annotations

import duckdb

from opsengine.incidents.retention import RetentionHook


def held_incidents(cur: duckdb.DuckDBPyConnection) -> list[int]:
    """Incidents with a notification pending, being sent or in doubt, or an escalation still
    active: the notifier, an operator deciding on a retry, and the escalation clock work on
    them. Failed notifications hold nothing."""
    return [
        r[0]
        for r in cur.execute(
            "SELECT incident_id FROM notifications "
            "WHERE state IN ('pending', 'sending', 'in_doubt') "
            "UNION SELECT incident_id FROM escalations WHERE state = 'active'"
        ).fetchall()
    ]


# Children first; every statement binds the ids as one list parameter.
_DELETES = (
    "DELETE FROM notification_attempts WHERE key IN "
    "(SELECT key FROM notifications WHERE incident_id IN (SELECT unnest(?::BIGINT[])))",
    "DELETE FROM notifications WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM escalations WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
)


def forget_incidents(cur: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Delete the escalation record and notifications (with attempts) of these incidents."""
    for sql in _DELETES:
        cur.execute(sql, [ids])


NOTIFY_RETENTION = RetentionHook(held=held_incidents, forget=forget_incidents)
