"""On-call schedules: daily or weekly rotations with a local hand-off time, and overrides.

Shifts are counted in the schedule's own time zone on the wall clock, so a 09:00
hand-off stays at 09:00 across daylight-saving changes. An override (someone covers
a span) beats the rotation; among overlapping overrides the newest wins.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsengine.store import Store
from opsengine.store.rows import bounded_text, query_dicts, utc

ROTATIONS = {"daily": 1, "weekly": 7}
_HANDOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_MEMBERS = 200


class ScheduleError(ValueError):
    """A schedule or override that cannot be used; the message names the field."""


def rotation_member(
    members: list[str],
    rotation: str,
    start_date: date,
    handoff: time,
    tz: ZoneInfo,
    at: datetime,
) -> str | None:
    """Who the rotation puts on call at ``at``; None before the first hand-off."""
    local = at.astimezone(tz)
    days = (local.date() - start_date).days
    if local.time().replace(tzinfo=None) < handoff:
        days -= 1  # still the previous shift until today's hand-off
    if days < 0:
        return None
    return members[(days // ROTATIONS[rotation]) % len(members)]


class OnCallSchedules:
    """Schedules and overrides in the store; ``on_call(name, at)`` answers who is on call."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def set_schedule(
        self,
        name: str,
        *,
        members: list[str],
        rotation: str = "weekly",
        start_date: date | str,
        handoff: str = "09:00",
        timezone: str = "UTC",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create or replace a schedule."""
        name = bounded_text(name, "name", 128, error=ScheduleError)
        if rotation not in ROTATIONS:
            raise ScheduleError(
                f"schedule {name}: rotation must be daily or weekly, got {rotation!r}"
            )
        if not isinstance(members, list) or not members or len(members) > MAX_MEMBERS:
            raise ScheduleError(f"schedule {name}: members must list 1..{MAX_MEMBERS} users")
        members = [
            bounded_text(m, f"schedule {name}: members[{i}]", 128, error=ScheduleError)
            for i, m in enumerate(members)
        ]
        if not isinstance(handoff, str) or not _HANDOFF.match(handoff):
            raise ScheduleError(f"schedule {name}: handoff must be HH:MM (24h), got {handoff!r}")
        _zone(name, timezone)
        if isinstance(start_date, str):
            try:
                start_date = date.fromisoformat(start_date)
            except ValueError:
                raise ScheduleError(
                    f"schedule {name}: start_date must be YYYY-MM-DD, got {start_date!r}"
                ) from None
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, ?, ?, ?)",
                [name, rotation, json.dumps(members), start_date, handoff, timezone, utc(at)],
            )
        return self.get(name)

    def get(self, name: str) -> dict[str, Any]:
        rows = self._query("SELECT * FROM schedules WHERE name = ?", [name])
        if not rows:
            raise ScheduleError(f"schedule {name!r}: no such schedule")
        row = rows[0]
        row["members"] = json.loads(row["members"])
        return row

    def list(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM schedules ORDER BY name")
        for r in rows:
            r["members"] = json.loads(r["members"])
        return rows

    def delete(self, name: str) -> None:
        self.get(name)
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM schedule_overrides WHERE schedule = ?", [name])
            cur.execute("DELETE FROM schedules WHERE name = ?", [name])

    def add_override(
        self,
        schedule: str,
        user: str,
        starts_at: datetime,
        ends_at: datetime,
        *,
        at: datetime | None = None,
    ) -> int:
        self.get(schedule)
        user = bounded_text(user, "user", 128, error=ScheduleError)
        starts_at, ends_at = utc(starts_at, "starts_at"), utc(ends_at, "ends_at")
        if ends_at <= starts_at:
            raise ScheduleError(f"override on {schedule}: ends_at must be after starts_at")
        with self.store.transaction() as cur:
            override_id = self.store.next_id(cur, "schedule_overrides", 1)
            cur.execute(
                "INSERT INTO schedule_overrides VALUES (?, ?, ?, ?, ?, ?)",
                [override_id, schedule, user, starts_at, ends_at, utc(at)],
            )
        return override_id

    def overrides(self, schedule: str) -> list[dict[str, Any]]:
        return self._query(
            "SELECT * FROM schedule_overrides WHERE schedule = ? ORDER BY starts_at, id", [schedule]
        )

    def on_call(self, schedule: str, at: datetime | None = None) -> str | None:
        """The user on call in ``schedule`` at ``at`` (default now)."""
        at = utc(at, "at")
        row = self.get(schedule)
        override = self._query(
            "SELECT user_name FROM schedule_overrides WHERE schedule = ? AND starts_at <= ? "
            "AND ends_at > ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [schedule, at, at],
        )
        if override:
            return override[0]["user_name"]
        hh, mm = map(int, row["handoff"].split(":"))
        return rotation_member(
            row["members"], row["rotation"], row["start_date"], time(hh, mm),
            _zone(schedule, row["timezone"]), at,
        )  # fmt: skip

    def _query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        return query_dicts(self.store, sql, params)


def _zone(schedule: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"schedule {schedule}: timezone {name!r} is not an IANA zone (e.g. Europe/Berlin)"
        ) from None
