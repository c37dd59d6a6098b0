"""Business-hours calendars: weekly hours in an IANA time zone, holidays and exceptions,
and the walk over business time that every SLA clock is built on.

A calendar is a set of *business intervals* on the instant (UTC) time line. Each local
date contributes its hours — the date's exception if it has one, nothing on a holiday,
else its weekday's hours — and each local ``HH:MM`` is turned into an instant with
``zoneinfo``. Walking instants instead of wall-clock times is what makes DST right: on
the last Sunday of March in Europe/Berlin a ``00:00-24:00`` day is 23 hours long, and a
Friday 17:00 CET to Monday 09:00 CEST gap is 63 hours, not 64. A local time that falls in
a DST gap maps forward (02:30 on the spring-forward day is 03:30), one that is repeated
takes its first occurrence (``fold=0``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MAX_RANGES = 8  # per day
MAX_DATES = 1_000  # holidays and exceptions each
#: How far a walk looks ahead before it gives up (a calendar with hours on only one
#: date of the year still answers; an empty one is refused when it is defined).
MAX_WALK_DAYS = 3 * 366


class CalendarError(ValueError):
    """A calendar that cannot be used; the message starts with the field it is about."""


Interval = tuple[datetime, datetime]  # [start, end) as aware UTC instants


def _minutes(text: str, where: str) -> tuple[int, int]:
    if not isinstance(text, str) or not (m := _RANGE.match(text.strip())):
        raise CalendarError(f"{where}: expected 'HH:MM-HH:MM', got {text!r}")
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if h0 > 23 or m0 > 59 or m1 > 59 or end > 24 * 60:
        raise CalendarError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise CalendarError(f"{where}: {text!r} ends before it starts")
    return start, end


def _day_ranges(values: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(values, list) or len(values) > MAX_RANGES:
        raise CalendarError(f"{where}: expected a list of at most {MAX_RANGES} 'HH:MM-HH:MM'")
    ranges = sorted(_minutes(v, f"{where}[{i}]") for i, v in enumerate(values))
    for (s0, e0), (s1, _) in itertools.pairwise(ranges):
        if s1 < e0:
            raise CalendarError(
                f"{where}: hours overlap ({s0 // 60:02}:{s0 % 60:02}-{e0 // 60:02}:{e0 % 60:02} "
                f"and one starting {s1 // 60:02}:{s1 % 60:02})"
            )
    return tuple(ranges)


def _date(text: Any, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise CalendarError(f"{where}: expected a date YYYY-MM-DD, got {text!r}") from None


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly hours in ``timezone``; ``holidays`` closed; ``exceptions`` replace a date's hours."""

    name: str
    timezone: str
    hours: dict[str, tuple[tuple[int, int], ...]]  # day → sorted (start, end) minutes
    holidays: frozenset[date] = frozenset()
    exceptions: dict[date, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> BusinessCalendar:
        """Validate the API's body ``{timezone, hours, holidays, exceptions}``; errors name
        the field as ``timezone``, ``hours.mon[1]``, ``holidays[3]``, ``exceptions.2026-12-24``."""
        tz = spec.get("timezone")
        if not isinstance(tz, str) or not tz:
            raise CalendarError("timezone: required, an IANA name such as Europe/Berlin")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"timezone: {tz!r} is not an IANA time zone") from None
        hours = spec.get("hours")
        if not isinstance(hours, dict):
            raise CalendarError('hours: required, e.g. {"mon": ["09:00-17:00"]}')
        unknown = sorted(set(hours) - set(DAYS))
        if unknown:
            raise CalendarError(f"hours.{unknown[0]}: not a day (use {', '.join(DAYS)})")
        weekly = {d: _day_ranges(hours.get(d, []), f"hours.{d}") for d in DAYS}
        holidays = spec.get("holidays") or []
        if not isinstance(holidays, list) or len(holidays) > MAX_DATES:
            raise CalendarError(f"holidays: expected a list of at most {MAX_DATES} dates")
        exceptions = spec.get("exceptions") or {}
        if not isinstance(exceptions, dict) or len(exceptions) > MAX_DATES:
            raise CalendarError(f"exceptions: expected at most {MAX_DATES} date → hours pairs")
        cal = cls(
            name=name,
            timezone=tz,
            hours=weekly,
            holidays=frozenset(_date(h, f"holidays[{i}]") for i, h in enumerate(holidays)),
            exceptions={
                _date(d, f"exceptions.{d}"): _day_ranges(v, f"exceptions.{d}")
                for d, v in exceptions.items()
            },
        )
        if not any(weekly.values()) and not any(cal.exceptions.values()):
            raise CalendarError("hours: the calendar has no business hours at all")
        return cal

    def to_spec(self) -> dict[str, Any]:
        def fmt(ranges: Sequence[tuple[int, int]]) -> list[str]:
            return [f"{s // 60:02}:{s % 60:02}-{e // 60:02}:{e % 60:02}" for s, e in ranges]

        return {
            "timezone": self.timezone,
            "hours": {d: fmt(r) for d, r in self.hours.items() if r},
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "exceptions": {d.isoformat(): fmt(r) for d, r in sorted(self.exceptions.items())},
        }

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ranges_on(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.hours[DAYS[day.weekday()]]

    def intervals(self, start: datetime, *, days: int = MAX_WALK_DAYS) -> Iterator[Interval]:
        """Business intervals that end after ``start``, in order, clipped to begin no earlier."""
        zone = self.zone
        start = start.astimezone(UTC)
        day = start.astimezone(zone).date() - timedelta(days=1)  # a range may cross midnight UTC
        for _ in range(days + 2):
            for s, e in self.ranges_on(day):
                a = _instant(day, s, zone)
                b = _instant(day, e, zone)
                if b <= start:
                    continue
                yield max(a, start), b
            day += timedelta(days=1)

    def add(self, start: datetime, seconds: float, pauses: Sequence[Interval] = ()) -> datetime:
        """The instant at which ``seconds`` of business time, not counting ``pauses``,
        have passed since ``start``. ``pauses`` are [start, end) instants, sorted."""
        remaining = timedelta(seconds=seconds)
        if remaining <= timedelta(0):
            return start.astimezone(UTC)
        for a, b in self.intervals(start):
            for x, y in _subtract((a, b), pauses):
                if y - x >= remaining:
                    return x + remaining
                remaining -= y - x
        raise CalendarError(
            f"calendar {self.name}: no business hours within {MAX_WALK_DAYS} days of {start}"
        )

    def elapsed(self, start: datetime, end: datetime, pauses: Sequence[Interval] = ()) -> float:
        """Seconds of business time in [start, end), not counting ``pauses``."""
        total = timedelta(0)
        if end <= start:
            return 0.0
        for a, b in self.intervals(start):
            if a >= end:
                break
            for x, y in _subtract((a, min(b, end)), pauses):
                total += y - x
        return total.total_seconds()


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes == 24 * 60:
        day, minutes = day + timedelta(days=1), 0
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _subtract(span: Interval, pauses: Sequence[Interval]) -> Iterator[Interval]:
    """``span`` minus the (sorted) ``pauses``."""
    a, b = span
    for p0, p1 in pauses:
        if p1 <= a or p0 >= b:
            continue
        if p0 > a:
            yield a, p0
        a = max(a, p1)
        if a >= b:
            return
    if a < b:
        yield a, b
