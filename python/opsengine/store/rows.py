"""Small conversions between DuckDB rows and Python values shared by the operational-state
services (incidents, problems, notify, …): rows as dicts, MAP parameters, UTC times, bounded text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from opsengine.durations import parse_duration
from opsengine.store.param_values import convert_param_value


def fetch_dicts(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None
) -> list[dict]:
    """Rows as dicts; TIMESTAMPTZ values in UTC and MAP values as plain dicts."""
    cur.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [
        {name: _plain(value) for name, value in zip(names, row, strict=True)}
        for row in cur.fetchall()
    ]


def query_dicts(store: Any, sql: str, params: list | dict | None = None) -> list[dict]:
    """:func:`fetch_dicts` on a fresh cursor of ``store`` (reads from any thread)."""
    cur = store.cursor()
    try:
        return fetch_dicts(cur, sql, params)
    finally:
        cur.close()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if (
        isinstance(value, dict)
        and set(value) == {"key", "value"}
        and isinstance(value["key"], list)
    ):
        return dict(zip(value["key"], value["value"], strict=True))
    return value


def map_args(labels: Mapping[str, str] | None) -> list[list[str]]:
    """Bound parameters for ``MAP(?::VARCHAR[], ?::VARCHAR[])``."""
    items = sorted((labels or {}).items())
    return [[k for k, _ in items], [str(v) for _, v in items]]


MAP_PARAM = "MAP(?::VARCHAR[], ?::VARCHAR[])"


def utc(value: datetime | None, what: str = "time") -> datetime:
    """``value`` (default now) as an aware UTC datetime; naive times are refused."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def bounded_text(
    value: Any,
    field: str,
    limit: int,
    *,
    required: bool = True,
    error: type[Exception] = ValueError,
) -> str | None:
    """A stripped string of at most ``limit`` characters; errors name the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise error(f"{field}: required")
        return None
    if not isinstance(value, str):
        raise error(f"{field}: expected a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise error(f"{field}: at most {limit} characters, got {len(value)}")
    return value


def parse_when(text: str, now: datetime) -> datetime:
    """A time as operators type it: ISO-8601, ``now``, ``today``, ``-1h`` (ago), or
    ``2h`` / ``+2h`` (from now — silences and overrides mostly end in the future)."""
    try:
        return now + timedelta(seconds=parse_duration(text.lstrip("+")))
    except ValueError:
        pass
    try:
        return convert_param_value("TIMESTAMPTZ", text, now=now)
    except ValueError as e:
        raise ValueError(f"time {text!r}: {e}") from None
