"""Retention of finished incidents (``[retention] incidents_days``).

An incident resolved or closed before the cut-off goes with everything that hangs off it:
its alert links, timeline, escalation record and notifications (with their attempts).
Kept whatever their age: incidents a problem links (the problem record needs them), and
those with a notification still pending or being sent, or an escalation still active (the
notifier and the escalation clock work on them). A reopened incident is open again and
is not a candidate.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

_CANDIDATES = """
SELECT id FROM incidents i
WHERE state IN ('resolved', 'closed')
  AND coalesce(closed_at, resolved_at) < ?
  AND NOT EXISTS (SELECT 1 FROM problem_incidents p WHERE p.incident_id = i.id)
  AND NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.incident_id = i.id AND n.state IN ('pending', 'sending'))
  AND NOT EXISTS (SELECT 1 FROM escalations e
                  WHERE e.incident_id = i.id AND e.state = 'active')
ORDER BY id
"""

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


def delete_finished(cur: duckdb.DuckDBPyConnection, before: datetime) -> list[int]:
    """Delete the incidents finished before ``before`` (see the module docs) in the caller's
    transaction; returns their ids."""
    ids = [r[0] for r in cur.execute(_CANDIDATES, [before]).fetchall()]
    if ids:
        for sql in _DELETES:
            cur.execute(sql, [ids])
    return ids
