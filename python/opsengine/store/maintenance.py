"""Keeping the file bounded: 1-minute metric roll-ups and per-table retention.

Roll-ups cover whole minutes only, up to a watermark kept in ``engine_state``,
so running maintenance twice never counts a sample twice.
"""

from __future__ import annotations

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
    store: Store, retention: RetentionSettings, now: datetime | None = None
) -> dict[str, int]:
    """Delete rows older than each table's retention; returns rows deleted per table."""
    now = now or datetime.now(UTC)
    deleted = {}
    with store.transaction() as cur:
        for table, (column, setting) in _RETAINED.items():
            days = getattr(retention, setting)
            if days <= 0:
                continue
            cur.execute(f"DELETE FROM {table} WHERE {column} < ?", [now - timedelta(days=days)])
            deleted[_REPORTED_AS.get(table, table)] = int(cur.fetchone()[0])
    return deleted


def run_maintenance(
    store: Store, retention: RetentionSettings, now: datetime | None = None
) -> MaintenanceReport:
    rolled = roll_up_metrics(store, now)
    deleted = apply_retention(store, retention, now)
    store.conn.execute("CHECKPOINT")
    return MaintenanceReport(rolled, deleted)
