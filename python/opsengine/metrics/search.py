"""Metric search: which metrics exist over a range, and one metric bucketed over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsengine.store import Store
from opsengine.store.rows import Where, query_rows


@dataclass
class SeriesPoints:
    """One series (host, labels) of a metric: buckets with min, max, avg, count and last."""

    host: str | None
    labels: dict[str, str]
    points: list[dict[str, Any]] = field(default_factory=list)


class MetricSearch:
    """Reads of the ``metrics`` view for people: names, and series in time buckets."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def names(
        self, start: datetime, end: datetime, host: str | None = None
    ) -> list[dict[str, Any]]:
        """Metric names with sample and host counts and first/last sample time in [start, end)."""
        where = Where()
        where.add("ts >= ? AND ts < ?", start, end)
        where.equal(host=host)
        return query_rows(
            self.store,
            "SELECT name, count(*) AS samples, count(DISTINCT host) AS hosts, min(ts) AS first, "
            f"max(ts) AS last FROM metrics{where.sql()} GROUP BY name ORDER BY name LIMIT 10000",
            where.params,
        )

    def series(
        self,
        name: str,
        start: datetime,
        end: datetime,
        step_seconds: float,
        *,
        host: str | None = None,
        max_series: int,
    ) -> tuple[list[SeriesPoints], bool]:
        """Each series of ``name`` in [start, end) as buckets ``step_seconds`` wide; at most
        ``max_series`` series, and whether some were left out."""
        where = Where()
        where.add("name = ? AND ts >= ? AND ts < ?", name, start, end)
        where.equal(host=host)
        found = query_rows(
            self.store,
            "SELECT * FROM (SELECT host, labels, time_bucket(to_microseconds(?), ts, ?) AS t, "
            "min(value) AS min, max(value) AS max, avg(value) AS avg, count(*) AS count, "
            f"arg_max(value, ts) AS last FROM metrics{where.sql()} GROUP BY ALL) "
            "ORDER BY host, CAST(labels AS VARCHAR), t",
            [round(step_seconds * 1_000_000), start, *where.params],
        )
        series: dict[tuple, SeriesPoints] = {}
        truncated = False
        for r in found:
            key = (r["host"], tuple(sorted((r["labels"] or {}).items())))
            if key not in series:
                if len(series) == max_series:
                    truncated = True
                    continue
                series[key] = SeriesPoints(r["host"], dict(r["labels"] or {}))
            series[key].points.append(
                {k: r[k] for k in ("t", "min", "max", "avg", "count", "last")}
            )
        return list(series.values()), truncated
