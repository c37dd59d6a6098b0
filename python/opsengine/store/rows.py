"""Reading rows, shared by the services: WHERE clauses built from optional filters (every
value a bound parameter), rows as dicts, and the small conversions between DuckDB rows and
Python values (MAP parameters, UTC times, bounded text)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from opsengine.durations import parse_duration
from opsengine.store.param_values import convert_param_value

if TYPE_CHECKING:
    from opsengine.store.db import Store


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


class Where:
    """WHERE clauses with their bound values, built from optional filters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    def equal(self, **columns: Any) -> None:
        """``column = ?`` for each given value that is not None (names are ours, never input)."""
        for column, value in columns.items():
            if value is not None:
                self.add(f"{column} = ?", value)

    def time_range(self, column: str, start: datetime | None, end: datetime | None) -> None:
        """Start inclusive, end exclusive; either may be None (open)."""
        if start is not None:
            self.add(f"{column} >= ?", start)
        if end is not None:
            self.add(f"{column} < ?", end)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def query_rows(store: Store, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a read as dicts, straight from DuckDB's cursor: for a page of results this is
    2-3x quicker than going through Arrow, and DuckDB's maps already arrive as dicts."""
    cur = store.cursor()
    try:
        # Times come back in the cursor's zone; the API speaks UTC whatever the host's TZ is.
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(sql, params)
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    finally:
        cur.close()


def schema_version(store: Store) -> int | None:
    """The highest migration applied to the store (on this thread's own cursor)."""
    return store.query("SELECT max(version) AS v FROM schema_migrations").column(0)[0].as_py()
