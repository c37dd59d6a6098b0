"""The ``alerts`` table and the hand-off of alert changes to the ops domains."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from opsengine.alerts.changes import ALERT_CHANGES
from opsengine.store import Store
from opsengine.store.rows import Where, query_rows

log = logging.getLogger(__name__)

AlertSubscriber = Callable[[pa.Table], None]

_COLUMNS = ", ".join(f.name for f in ALERT_CHANGES if f.name != "ts")

# One row per alert instance: (fingerprint, active_since). A batch may carry several
# changes of one instance (pending then firing); the last one by event time wins.
_UPSERT = f"""
INSERT OR REPLACE INTO alerts ({_COLUMNS}, updated_at)
SELECT {_COLUMNS}, ts FROM alert_changes
QUALIFY row_number() OVER (
    PARTITION BY fingerprint, active_since
    ORDER BY ts DESC, CASE state WHEN 'resolved' THEN 2 WHEN 'firing' THEN 1 ELSE 0 END DESC
) = 1
"""


class AlertLog:
    """Stores alert state changes and passes them on to subscribers.

    ``publish`` commits the changes to ``alerts`` first, then calls every subscriber
    with the same table, in subscription order. A subscriber that raises is logged and
    counted in ``subscriber_errors``; the alerts stay stored and the other subscribers
    still run.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: list[tuple[str, AlertSubscriber]] = []
        self._lock = threading.Lock()
        self.published = 0
        self.subscriber_errors: dict[str, int] = {}

    def subscribe(self, name: str, fn: AlertSubscriber) -> None:
        with self._lock:
            self._subscribers.append((name, fn))

    def publish(self, changes: pa.Table | pa.RecordBatch) -> int:
        """Store ``changes`` (schema :data:`ALERT_CHANGES`) and notify subscribers."""
        table = _conform(changes)
        if table.num_rows == 0:
            return 0
        with self.store.transaction() as cur:
            cur.register("alert_changes", table)
            try:
                cur.execute(_UPSERT)
            finally:
                cur.unregister("alert_changes")
        self.published += table.num_rows
        with self._lock:
            subscribers = list(self._subscribers)
        for name, fn in subscribers:
            try:
                fn(table)
            except Exception:
                self.subscriber_errors[name] = self.subscriber_errors.get(name, 0) + 1
                log.exception("alert subscriber %s failed on %d change(s)", name, table.num_rows)
        return table.num_rows

    def current(self, *, state: str | None = None) -> pa.Table:
        """The alert instances as stored (optionally only those in ``state``)."""
        sql = "SELECT * FROM alerts"
        params: list = []
        if state is not None:
            sql += " WHERE state = ?"
            params.append(state)
        return self.store.query(sql + " ORDER BY updated_at", params)

    def search(
        self,
        *,
        state: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        source: str | None = None,
        after: tuple[datetime, str, datetime] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alert instances, most recently changed first (then fingerprint, active_since),
        after the position ``after`` = (updated_at, fingerprint, active_since)."""
        where = Where()
        where.equal(state=state, rule=rule, severity=severity, source=source)
        if after is not None:
            where.add(
                "(updated_at < ? OR (updated_at = ? AND (fingerprint > ? "
                "OR (fingerprint = ? AND active_since > ?))))",
                after[0], after[0], after[1], after[1], after[2],
            )  # fmt: skip
        sql = (
            f"SELECT * FROM alerts{where.sql()} "
            "ORDER BY updated_at DESC, fingerprint, active_since LIMIT ?"
        )
        return query_rows(self.store, sql, [*where.params, limit])

    def instances(self, fingerprint: str) -> list[dict[str, Any]]:
        """Every instance of one alert, newest first."""
        return query_rows(
            self.store,
            "SELECT * FROM alerts WHERE fingerprint = ? ORDER BY active_since DESC",
            [fingerprint],
        )


def _conform(changes: pa.Table | pa.RecordBatch) -> pa.Table:
    table = pa.Table.from_batches([changes]) if isinstance(changes, pa.RecordBatch) else changes
    missing = [f.name for f in ALERT_CHANGES if f.name not in table.column_names]
    if missing:
        raise ValueError(f"alert changes: missing column(s) {', '.join(missing)}")
    table = table.select(ALERT_CHANGES.names)
    try:
        return table.cast(ALERT_CHANGES)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ValueError(f"alert changes: {e}") from None
