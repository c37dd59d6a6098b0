"""Retention of finished incidents (``[retention] incidents_days``).

An incident resolved or closed before the cut-off goes with everything that hangs off it:
its alert links and timeline here, and what other domains keep about it, which each of them
deletes through the :class:`RetentionHook` it registered with the incident service
(``IncidentService.add_retention_hook``): notify its escalation record and notifications,
for example. Kept whatever their age: incidents changed since the cut-off (a late review
note) and incidents a hook still holds (a problem links them; a notification is pending,
being sent or in doubt; an escalation is still active). A reopened incident is open again
and is not a candidate.

Ids are never handed out twice: before deleting, the highest incident and timeline ids
are kept in ``engine_state`` (``max_id:<table>``), where the service's id counter starts
from after a restart (webhooks and tickets elsewhere know incidents by id). Deletes run in
batches of :data:`BATCH` incidents, each its own transaction, so writers and the API wait
for one batch at most.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

_CANDIDATES = """
SELECT id FROM incidents i
WHERE state IN ('resolved', 'closed')
  AND coalesce(closed_at, resolved_at) < ?
  AND updated_at < ?
  AND NOT EXISTS (SELECT 1 FROM incident_events ev WHERE ev.incident_id = i.id AND ev.ts >= ?)
  AND id NOT IN (SELECT unnest(?::BIGINT[]))
ORDER BY id
LIMIT ?
"""


@dataclass(frozen=True)
class RetentionHook:
    """What a domain that keeps rows about incidents tells incident retention.

    ``held(cur)``: ids of incidents it still needs (never deleted while held).
    ``forget(cur, ids)``: delete its own rows about these incidents, in the same transaction.
    """

    held: Callable[[duckdb.DuckDBPyConnection], Iterable[int | None]]
    forget: Callable[[duckdb.DuckDBPyConnection, list[int]], None]


#: Incidents deleted per transaction.
BATCH = 5_000

#: The tables whose ids the service counts on from their highest value.
ID_TABLES = ("incidents", "incident_events")


def id_mark_key(table: str) -> str:
    return f"max_id:{table}"


# Children first (other domains' hooks before these); each binds the ids as one list.
_DELETES = (
    "DELETE FROM incident_events WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM incident_alerts WHERE incident_id IN (SELECT unnest(?::BIGINT[]))",
    "DELETE FROM incidents WHERE id IN (SELECT unnest(?::BIGINT[]))",
)


def delete_finished(
    cur: duckdb.DuckDBPyConnection,
    before: datetime,
    hooks: Sequence[RetentionHook] = (),
    limit: int = BATCH,
) -> list[int]:
    """Delete up to ``limit`` incidents finished before ``before`` (see the module docs) in
    the caller's transaction, after keeping the id marks; returns their ids."""
    held = sorted({i for hook in hooks for i in hook.held(cur) if i is not None})
    params = [before, before, before, held, limit]
    ids = [r[0] for r in cur.execute(_CANDIDATES, params).fetchall()]
    if not ids:
        return ids
    for table in ID_TABLES:
        # Table names are this module's constants, never input.
        cur.execute(
            "INSERT OR REPLACE INTO engine_state "
            f"SELECT ?, CAST(greatest(coalesce(max(id), 0), ?) AS VARCHAR) FROM {table}",
            [id_mark_key(table), id_mark(cur, table)],
        )
    for hook in hooks:
        hook.forget(cur, ids)
    for sql in _DELETES:
        cur.execute(sql, [ids])
    return ids


def id_mark(cur: duckdb.DuckDBPyConnection, table: str) -> int:
    """The highest id ``table`` ever held as far as retention knows (0: none deleted)."""
    row = cur.execute(
        "SELECT value FROM engine_state WHERE key = ?", [id_mark_key(table)]
    ).fetchone()
    return int(row[0]) if row else 0
