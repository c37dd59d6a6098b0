"""Keeping the file bounded: 1-minute metric roll-ups and per-table retention.

Roll-ups cover whole minutes only, up to a watermark kept in ``engine_state``,
so running maintenance twice never counts a sample twice. Beyond the time-stamped
history, retention also removes series left without samples (``metric_series``; the
writer's catalogue is told under the store's write lock, so a series that reports again is
written again), resolved alert instances and the audit log age out, and finished
incidents go with their timeline (through the incident service, see
``incidents/retention.py``). ``opsengine run`` runs all of it every
``[retention] interval_s`` (``sources/runner.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opsengine.config import RetentionSettings
from opsengine.store.db import Store

ROLLUP_WATERMARK = "metrics_1m:watermark"

#: History kept in segments: whole UTC days are dropped once every row of the day is expired.
_RETAINED_DAYS = {"logs": "logs_days", "events": "events_days"}

_RETAINED = {
    "metric_samples": ("ts", "metrics_days"),  # the `metrics` view's rows
    "metrics_1m": ("ts", "metrics_1m_days"),
    "log_template_counts_1m": ("minute", "metrics_1m_days"),
    "probe_results": ("ts", "probes_days"),
    "audit_log": ("ts", "audit_days"),
}

#: Tables whose rows age out only once finished: (time column, setting, condition).
_RETAINED_WHEN = {
    "alerts": ("resolved_at", "alerts_days", "state = 'resolved'"),
}

#: Tables reported under the name users query them by.
_REPORTED_AS = {"metric_samples": "metrics"}


@dataclass
class MaintenanceReport:
    rolled_up_minutes: int
    deleted: dict[str, int]


def roll_up_metrics(store: Store, now: datetime | None = None) -> int:
    """Aggregate complete minutes of ``metrics`` into ``metrics_1m``; returns rows written."""
    now = now or datetime.now(UTC)
    until = now.replace(second=0, microsecond=0)
    with store.transaction() as cur:
        row = cur.execute(
            "SELECT value FROM engine_state WHERE key = ?", [ROLLUP_WATERMARK]
        ).fetchone()
        since = datetime.fromisoformat(row[0]) if row else datetime(1970, 1, 1, tzinfo=UTC)
        if since >= until:
            return 0
        cur.execute(
            """
            INSERT INTO metrics_1m
            SELECT date_trunc('minute', ts) AS minute, host, name, labels,
                   min(value), max(value), avg(value), count(*), arg_max(value, ts)
            FROM metrics
            WHERE ts >= ? AND ts < ?
            GROUP BY ALL
            """,
            [since, until],
        )
        written = cur.fetchone()[0] if cur.description else 0
        cur.execute(
            "INSERT OR REPLACE INTO engine_state VALUES (?, ?)",
            [ROLLUP_WATERMARK, until.isoformat()],
        )
    return int(written or 0)


def apply_retention(
    store: Store,
    retention: RetentionSettings,
    now: datetime | None = None,
    *,
    forget_series: Callable[[Iterable[int]], None] | None = None,
) -> dict[str, int]:
    """Delete rows older than each table's retention; returns rows deleted per table.

    ``forget_series(ids)`` is called with the ids of series deleted for having no samples
    left, before the write lock is released (the metric writer's catalogue).
    """
    now = now or datetime.now(UTC)
    deleted = {}
    retired: list[str] = []
    with store.transaction() as cur:
        for table, setting in _RETAINED_DAYS.items():
            days = getattr(retention, setting)
            if days <= 0:
                continue
            deleted[table], paths = store.history.expire_days(
                cur, table, now - timedelta(days=days)
            )
            retired += paths
        for table, (column, setting) in _RETAINED.items():
            days = getattr(retention, setting)
            if days <= 0:
                continue
            cur.execute(f"DELETE FROM {table} WHERE {column} < ?", [now - timedelta(days=days)])
            deleted[_REPORTED_AS.get(table, table)] = int(cur.fetchone()[0])
        for table, (column, setting, condition) in _RETAINED_WHEN.items():
            days = getattr(retention, setting)
            if days <= 0:
                continue
            cur.execute(
                f"DELETE FROM {table} WHERE {condition} AND {column} < ?",
                [now - timedelta(days=days)],
            )
            deleted[table] = int(cur.fetchone()[0])
    store.history.retire_later(retired)
    deleted["metric_series"] = (
        _drop_empty_series(store, forget_series) if deleted.get("metrics") else 0
    )
    return deleted


def _drop_empty_series(store: Store, forget_series: Callable[[Iterable[int]], None] | None) -> int:
    """Delete the series whose last sample retention just removed; returns how many.

    The candidates are found on a snapshot, without the write lock (a scan of every
    sample); under the lock each is deleted only if it still has no sample, and the
    writer's catalogue forgets exactly those before the lock is released.
    """
    cur = store.cursor()
    try:
        candidates = [
            r[0]
            for r in cur.execute(
                "SELECT id FROM metric_series "
                "WHERE id NOT IN (SELECT DISTINCT series_id FROM metric_samples)"
            ).fetchall()
        ]
    finally:
        cur.close()
    if not candidates:
        return 0
    with store.write_lock:
        with store.transaction() as cur:
            gone = [
                r[0]
                for r in cur.execute(
                    "DELETE FROM metric_series s WHERE s.id IN (SELECT unnest(?::UBIGINT[])) "
                    "AND NOT EXISTS (SELECT 1 FROM metric_samples m WHERE m.series_id = s.id) "
                    "RETURNING s.id",
                    [candidates],
                ).fetchall()
            ]
        if gone and forget_series is not None:
            forget_series(gone)
    return len(gone)


def run_maintenance(
    store: Store,
    retention: RetentionSettings,
    now: datetime | None = None,
    *,
    forget_series: Callable[[Iterable[int]], None] | None = None,
    prune_incidents: Callable[[datetime], int] | None = None,
) -> MaintenanceReport:
    """Roll-ups, retention of every table, and a checkpoint. ``prune_incidents(cutoff)``
    deletes finished incidents (the incident service, which keeps its index in step)."""
    rolled = roll_up_metrics(store, now)
    deleted = apply_retention(store, retention, now, forget_series=forget_series)
    if prune_incidents is not None and retention.incidents_days > 0:
        cutoff = (now or datetime.now(UTC)) - timedelta(days=retention.incidents_days)
        deleted["incidents"] = prune_incidents(cutoff)
    with store.write_lock:  # no write runs on another thread meanwhile
        store.conn.execute("CHECKPOINT")
    store.history.remove_retired()
    return MaintenanceReport(rolled, deleted)
