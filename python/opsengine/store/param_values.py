"""Named-query parameter values as operators type them, converted to what DuckDB binds.

Times are UTC. A TIMESTAMPTZ accepts ISO-8601 (``2024-05-01``, ``2024-05-01T10:00:00Z``,
``2024-05-01 10:00:00+02:00``; no zone means UTC), ``now``, ``today`` (UTC midnight),
``yesterday`` and relative forms ``-7d``, ``-1h30m``, ``+2h``. A DATE accepts
``2024-05-01``, ``today``, ``yesterday`` and ``-7d``. An INTERVAL accepts ``90s``,
``15m``, ``1h``, ``7d`` or ``1 hour``/``2 days``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opsengine.durations import parse_duration

PARAM_TYPES = (
    "VARCHAR",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "BOOLEAN",
    "TIMESTAMPTZ",
    "DATE",
    "INTERVAL",
)

_RELATIVE = re.compile(r"^([+-])\s*(\S+)$")
_WORD_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?$", re.IGNORECASE)
_WORD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_INT_RANGE = {"INTEGER": 2**31, "BIGINT": 2**63}


def convert_param_value(type_name: str, value: Any, *, now: datetime | None = None) -> Any:
    """The Python value DuckDB binds for ``value`` of ``type_name``; ValueError says what is wrong."""
    now = now or datetime.now(UTC)
    try:
        if isinstance(value, str):
            text = value.strip()
            return _FROM_TEXT[type_name](text, now)
        return _FROM_PYTHON[type_name](value)
    except OverflowError:
        # -99999999d, 1e400s: a time or span past what a date can hold (years 1..9999).
        shown = value if not isinstance(value, str) or len(value) <= 40 else f"{value[:40]}…"
        raise ValueError(
            f"{shown!r} is out of range for {type_name} (dates run from year 1 to 9999)"
        ) from None


def _timestamptz_from_text(text: str, now: datetime) -> datetime:
    word = text.lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight if word == "today" else midnight - timedelta(days=1)
    if rel := _relative(text):
        return now + rel
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid TIMESTAMPTZ {text!r}: expected ISO-8601 (2024-05-01T10:00:00Z), "
            "now, today, yesterday or a relative time like -7d or -1h30m"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _date_from_text(text: str, now: datetime) -> date:
    word = text.lower()
    if word == "today":
        return now.date()
    if word == "yesterday":
        return now.date() - timedelta(days=1)
    if rel := _relative(text):
        return (now + rel).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid DATE {text!r}: expected YYYY-MM-DD, today, yesterday or a relative day like -7d"
        ) from None


def _relative(text: str) -> timedelta | None:
    m = _RELATIVE.match(text)
    if not m:
        return None
    try:
        seconds = parse_duration(m.group(2))
    except ValueError:
        return None
    return timedelta(seconds=seconds if m.group(1) == "+" else -seconds)


def _interval_from_text(text: str, _now: datetime) -> timedelta:
    if m := _WORD_INTERVAL.match(text):
        return timedelta(seconds=float(m.group(1)) * _WORD_SECONDS[m.group(2).lower()])
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError:
        raise ValueError(
            f"invalid INTERVAL {text!r}: expected e.g. 90s, 15m, 1h, 7d or '1 hour'"
        ) from None


def _integer_from_text(type_name: str):
    def convert(text: str, _now: datetime) -> int:
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"invalid {type_name} {text!r}: expected a whole number") from None
        return _integer_in_range(type_name, number)

    return convert


def _integer_in_range(type_name: str, number: int) -> int:
    limit = _INT_RANGE[type_name]
    if not -limit <= number < limit:
        raise ValueError(f"{number} is out of range for {type_name}")
    return number


def _double_from_text(text: str, _now: datetime) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"invalid DOUBLE {text!r}: expected a number") from None


def _boolean_from_text(text: str, _now: datetime) -> bool:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"invalid BOOLEAN {text!r}: expected true or false")


_FROM_TEXT = {
    "VARCHAR": lambda text, _now: text,
    "INTEGER": _integer_from_text("INTEGER"),
    "BIGINT": _integer_from_text("BIGINT"),
    "DOUBLE": _double_from_text,
    "BOOLEAN": _boolean_from_text,
    "TIMESTAMPTZ": _timestamptz_from_text,
    "DATE": _date_from_text,
    "INTERVAL": _interval_from_text,
}


def _expect(kinds: tuple[type, ...], type_name: str, convert=lambda v: v):
    def check(value: Any) -> Any:
        if isinstance(value, bool) and bool not in kinds:
            raise ValueError(f"expected a {type_name} value, got a boolean")
        if not isinstance(value, kinds):
            raise ValueError(f"expected a {type_name} value, got {type(value).__name__}")
        return convert(value)

    return check


def _aware(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


_FROM_PYTHON = {
    "VARCHAR": _expect((str,), "VARCHAR"),
    "INTEGER": _expect((int,), "INTEGER", lambda v: _integer_in_range("INTEGER", v)),
    "BIGINT": _expect((int,), "BIGINT", lambda v: _integer_in_range("BIGINT", v)),
    "DOUBLE": _expect((int, float), "DOUBLE", float),
    "BOOLEAN": _expect((bool,), "BOOLEAN"),
    "TIMESTAMPTZ": _expect((datetime, date), "TIMESTAMPTZ", _aware),
    "DATE": _expect((date,), "DATE", lambda v: v.date() if isinstance(v, datetime) else v),
    "INTERVAL": _expect(
        (timedelta, int, float),
        "INTERVAL",
        lambda v: v if isinstance(v, timedelta) else timedelta(seconds=v),
    ),
}
