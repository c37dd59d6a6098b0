"""What the pages read, through the engine's services and the named queries (no SQL here:
the statements live in ``queries/*.sql``, where ``opsengine query`` runs the same ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from opsengine.store.named_queries import NamedQuery, load_queries, run_query

#: Range choices of the charts: label → (length, bucket).
RANGES: dict[str, tuple[timedelta, str]] = {
    "15m": (timedelta(minutes=15), "15s"),
    "1h": (timedelta(hours=1), "1m"),
    "6h": (timedelta(hours=6), "5m"),
    "24h": (timedelta(hours=24), "15m"),
    "7d": (timedelta(days=7), "2h"),
}
DEFAULT_RANGE = "1h"


@cache
def shipped_queries() -> dict[str, NamedQuery]:
    """Parsed once per process: the files ship with the package and do not change."""
    return load_queries()


def named(engine: Any, query: str, /, **params: Any) -> list[dict[str, Any]]:
    """Rows of the shipped named query ``query`` run with ``params``."""
    return run_query(engine.store, query, params, queries=shipped_queries()).to_pylist()


def time_range(label: str | None) -> tuple[str, datetime, datetime, str]:
    """(label, start, end, bucket) of a range choice; an unknown label is the default."""
    label = label if label in RANGES else DEFAULT_RANGE
    length, bucket = RANGES[label]
    end = datetime.now(UTC)
    return label, end - length, end, bucket


def metric_series(
    engine: Any, name: str, start: datetime, end: datetime, bucket: str, host: str = ""
) -> list[dict[str, Any]]:
    return named(
        engine, "metric_series", name=name, host=host, **{"from": start, "to": end}, bucket=bucket
    )
