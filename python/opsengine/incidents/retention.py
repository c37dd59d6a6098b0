"""Retention of finished incidents (``[retention] incidents_days``).

An incident resolved or closed before the cut-off goes with everything that hangs off it:
its alert links, timeline, escalation record and notifications (with their attempts).
Kept whatever their age: incidents a problem links (the problem record needs them),
incidents changed since the cut-off (a late review note), and those with a notification
pending, being sent or in doubt, or an escalation still active (the notifier, an operator
deciding on a retry, and the escalation clock work on them); failed notifications go. A
reopened incident is open again and is not a candidate.

Ids are never handed out twice: before deleting, the highest incident and timeline ids
are kept in ``engine_state`` (``max_id:<table>``), where the service's id counter starts
from after a restart (webhooks and tickets elsewhere know incidents by id). Deletes run in
batches of :data:`BATCH` incidents, each its own transaction, so writers and the API wait
for one batch at most.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

_CANDIDATES = """
SELECT id FROM incidents i
WHERE state IN ('resolved', 'closed')
  AND coalesce(closed_at, resolved_at) < ?
  AND updated_at < ?
  AND NOT EXISTS (SELECT 1 FROM incident_events ev WHERE ev.incident_id = i.id AND ev.ts >= ?)
  AND NOT EXISTS (SELECT 1 FROM problem_incidents p WHERE p.incident_id = i.id)
  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = i.id
                  AND n.state IN ('pending', 'sending', 'in_doubt'))
  AND NOT EXISTS (SELECT 1 FROM escalations e
                  WHERE e.incident_id = i.id AND e.state = 'active')
ORDER BY id
LIMIT ?
"""

#: Incidents deleted per transaction.
BATCH = 5_000

#: The tables whose ids the service counts on from their highest value.
ID_TABLES = ("incidents", "incident_events")


def id_mark_key(table: str) -> str:
    return f"max_id:{table}"


# Children first; every statement binds the ids as one list parameter.
_DELETES = (
    "DELETE FROM notification_attempts WHERE key IN "
    "(SELECT key FROM notifications WHERE incident_id IN (SELECT unnest(?::BIGINT[])))",
    "DELETE FROM notifications WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM escalations WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM incident_events WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM incident_alerts WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM incidents WHERE id IN (SELECT unnest(?::BIGINT[]))",
)


def delete_finished(
    cur: duckdb.DuckDBPyConnection, before: datetime, limit: int = BATCH
) -> list[int]:
    """Delete up to ``limit`` incidents finished before ``before`` (see the module docs) in
    the caller's transaction, after keeping the id marks; returns their ids."""
    ids = [r[0] for r in cur.execute(_CANDIDATES, [before, before, before, limit]).fetchall()]
    if not ids:
        return ids
    for table in ID_TABLES:
        # Table names are this module's constants, never input.
        cur.execute(
            "INSERT OR REPLACE INTO engine_state "
            f"SELECT ?, CAST(greatest(coalesce(max(id), 0), ?) AS VARCHAR) FROM {table}",
            [id_mark_key(table), id_mark(cur, table)],
        )
    for sql in _DELETES:
        cur.execute(sql, [ids])
    return ids


def id_mark(cur: duckdb.DuckDBPyConnection, table: str) -> int:
    """The highest id ``table`` ever held as far as retention knows (0: none deleted)."""
    row = cur.execute(
        "SELECT value FROM engine_state WHERE key = ?", [id_mark_key(table)]
    ).fetchone()
    return int(row[0]) if row else 0
