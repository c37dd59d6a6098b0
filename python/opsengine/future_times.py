"""How far ahead of the engine's clock a sample or log line may be dated.

Rules run in event time: the newest timestamp moves their clock. One sample dated
9999-12-31 would move the metric rules' clock to the year 9999, where no later sample
counts, so alerting stops for good. Every time from outside is therefore judged against
the engine's clock plus a tolerated skew (``[ingest] max_future_skew``, default 10m: clocks
drift and batches travel):

- metric samples dated past it are rejected and counted;
- log lines dated past it keep their text and get the receive time as event time (the
  raw line still shows the time it claimed), and are counted.

The counts are shown in ``/health`` (component ``future_times``) and ``/metrics``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from opsengine.durations import parse_duration

DEFAULT_SKEW = "10m"


def utc_now() -> datetime:
    return datetime.now(UTC)


class FutureTimes:
    """The skew bound with its counters; one per engine, shared by its ingest paths."""

    def __init__(self, skew: str | float = DEFAULT_SKEW, clock: Callable[[], datetime] = utc_now):
        seconds = parse_duration(skew)
        if seconds < 0:
            raise ValueError("max_future_skew must not be negative")
        self.skew = timedelta(seconds=seconds)
        self.clock = clock
        self.samples_rejected = 0
        self.log_times_clamped = 0
        self._lock = threading.Lock()

    def limit(self) -> datetime:
        """The latest acceptable time, now."""
        return self.clock() + self.skew

    def drop_future_samples(self, table: pa.Table) -> pa.Table:
        """``table`` (with a ``ts`` column) without the rows dated past :meth:`limit`."""
        if table.num_rows == 0:
            return table
        ahead = pc.fill_null(pc.greater(table.column("ts"), pa.scalar(self.limit(), _TS)), False)
        n = pc.sum(ahead.cast(pa.int64())).as_py() or 0
        if not n:
            return table
        with self._lock:
            self.samples_rejected += n
        return table.filter(pc.invert(ahead))

    def clamp_log_times(self, ts: pa.Array, received: datetime) -> pa.Array:
        """Event times with those past :meth:`limit` replaced by ``received``."""
        if len(ts) == 0:
            return ts
        ahead = pc.fill_null(pc.greater(ts, pa.scalar(self.limit(), ts.type)), False)
        n = pc.sum(ahead.cast(pa.int64())).as_py() or 0
        if not n:
            return ts
        with self._lock:
            self.log_times_clamped += n
        return pc.if_else(ahead, pa.scalar(received, ts.type), ts)

    def rejection(self) -> str:
        """Why a sample was rejected, for ingest reports."""
        return f"timestamp more than {_span(self.skew)} ahead of the engine clock"

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "max_future_skew_seconds": self.skew.total_seconds(),
            "metric_samples_rejected": self.samples_rejected,
            "log_times_clamped": self.log_times_clamped,
        }


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_TS = pa.timestamp("us", tz="UTC")
