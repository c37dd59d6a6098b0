"""``/api/v1/metrics``: metric search — which metrics exist, and one metric over a time range.

``GET /api/v1/metrics/series?name=cpu_usage&host=db1&from=-6h&step=5m`` answers one series
per (host, labels), each a list of buckets with min, max, avg, count and last value. The
answer is bounded: at most ``MAX_POINTS`` buckets per series (a wider range needs a larger
step) and ``MAX_SERIES`` series, with ``truncated`` saying when series were left out. The SQL
is the metric search service's (``engine.metric_search``, ``opsengine.metrics.search``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from opsengine.api.auth import VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.paging import bad_param, json_number, time_param
from opsengine.durations import parse_duration

MAX_POINTS = 2_000
MAX_SERIES = 500
DEFAULT_RANGE = timedelta(hours=1)
DEFAULT_BUCKETS = 120


class MetricName(msgspec.Struct):
    name: str
    samples: int
    hosts: int
    first: datetime
    last: datetime


class Series(msgspec.Struct):
    host: str | None
    labels: dict[str, str]
    points: list[dict[str, Any]]


class SeriesAnswer(msgspec.Struct):
    name: str
    start: datetime
    end: datetime
    step_seconds: float
    series: list[Series]
    truncated: bool


class MetricSearchController(Controller):
    path = "/api/v1/metrics"
    guards = [VIEWER]
    tags = ["metrics"]

    @get("/names", sync_to_thread=True, summary="Metric names with sample counts over a range")
    def names(
        self,
        engine: EngineDep,
        from_: Annotated[str | None, QueryParameter(name="from", description="default -1h")] = None,
        to: Annotated[str | None, QueryParameter(description="exclusive end; default now")] = None,
        host: FromQuery[str | None] = None,
    ) -> list[MetricName]:
        start, end = _range(from_, to)
        return [MetricName(**r) for r in engine.metric_search.names(start, end, host)]

    @get("/series", sync_to_thread=True, summary="One metric over time, bucketed, per series")
    def series(
        self,
        engine: EngineDep,
        name: Annotated[str, QueryParameter(min_length=1, max_length=256)],
        from_: Annotated[str | None, QueryParameter(name="from", description="default -1h")] = None,
        to: Annotated[str | None, QueryParameter(description="exclusive end; default now")] = None,
        host: FromQuery[str | None] = None,
        step: Annotated[
            str | None, QueryParameter(description="bucket width: 10s, 5m, 1h (default: range/120)")
        ] = None,
    ) -> SeriesAnswer:
        start, end = _range(from_, to)
        span = (end - start).total_seconds()
        try:
            seconds = parse_duration(step) if step else max(1.0, span / DEFAULT_BUCKETS)
        except ValueError as e:
            raise bad_param("step", str(e)) from None
        if seconds <= 0 or span / seconds > MAX_POINTS:
            raise bad_param(
                "step",
                f"{step} gives more than {MAX_POINTS} buckets over the range; use a larger one",
            )
        found, truncated = engine.metric_search.series(
            name, start, end, seconds, host=host, max_series=MAX_SERIES
        )
        series = [
            Series(s.host, s.labels, [{k: json_number(v) for k, v in p.items()} for p in s.points])
            for s in found
        ]
        return SeriesAnswer(name, start, end, seconds, series, truncated)


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    until = time_param("to", end) or datetime.now(UTC)
    since = time_param("from", start) or until - DEFAULT_RANGE
    if since >= until:
        raise bad_param("from", "must be before 'to'")
    return since, until
