"""Keeping the file bounded: 1-minute metric roll-ups and per-table retention.

Roll-ups cover whole minutes only, up to a watermark kept in ``engine_state``,
so running maintenance twice never counts a sample twice. Beyond the time-stamped
history, retention also removes what only grows otherwise: series left without samples
(``metric_series``; the writer's catalogue is told, under the store's write lock, so a
series that reports again is written again) and the offsets of log files gone from disk
(``file_checkpoints``). ``opsengine run`` runs all of it every ``[retention] interval_s``
(``sources/runner.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opsengine.config import RetentionSettings
from opsengine.store.db import Store

ROLLUP_WATERMARK = "metrics_1m:watermark"

_RETAINED = {
    "logs": ("ts", "logs_days"),
    "events": ("ts", "events_days"),
    "metric_samples": ("ts", "metrics_days"),  # the `metrics` view's rows
    "metrics_1m": ("ts", "metrics_1m_days"),
    "log_template_counts_1m": ("minute", "metrics_1m_days"),
    "probe_results": ("ts", "probes_days"),
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
    with store.write_lock:
        with store.transaction() as cur:
            for table, (column, setting) in _RETAINED.items():
                days = getattr(retention, setting)
                if days <= 0:
                    continue
                cur.execute(f"DELETE FROM {table} WHERE {column} < ?", [now - timedelta(days=days)])
                deleted[_REPORTED_AS.get(table, table)] = int(cur.fetchone()[0])
            gone: list[int] = []
            if deleted.get("metrics"):
                # Series whose last sample just went: their labels would stay forever.
                gone = [
                    r[0]
                    for r in cur.execute(
                        "SELECT id FROM metric_series "
                        "WHERE id NOT IN (SELECT DISTINCT series_id FROM metric_samples)"
                    ).fetchall()
                ]
                if gone:
                    cur.execute(
                        "DELETE FROM metric_series WHERE id IN (SELECT unnest(?::UBIGINT[]))",
                        [gone],
                    )
            deleted["metric_series"] = len(gone)
            deleted["file_checkpoints"] = _forget_vanished_files(cur, retention, now)
        if gone and forget_series is not None:
            forget_series(gone)
    return deleted


def _forget_vanished_files(cur, retention: RetentionSettings, now: datetime) -> int:
    """Delete the offsets of files not seen for ``file_checkpoints_days`` and no longer on
    disk; a file that is still there keeps its offset, however long it has been idle."""
    days = retention.file_checkpoints_days
    if days <= 0:
        return 0
    stale = cur.execute(
        "SELECT fingerprint, path FROM file_checkpoints WHERE updated_at < ?",
        [now - timedelta(days=days)],
    ).fetchall()
    vanished = [fp for fp, path in stale if not os.path.exists(path)]
    if vanished:
        cur.execute(
            "DELETE FROM file_checkpoints WHERE fingerprint IN (SELECT unnest(?::VARCHAR[]))",
            [vanished],
        )
    return len(vanished)


def run_maintenance(
    store: Store,
    retention: RetentionSettings,
    now: datetime | None = None,
    *,
    forget_series: Callable[[Iterable[int]], None] | None = None,
) -> MaintenanceReport:
    rolled = roll_up_metrics(store, now)
    deleted = apply_retention(store, retention, now, forget_series=forget_series)
    store.conn.execute("CHECKPOINT")
    return MaintenanceReport(rolled, deleted)
