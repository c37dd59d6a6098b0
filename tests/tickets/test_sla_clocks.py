"""SLA clocks to the minute, across a weekend, a holiday, a pending period and the
spring-forward change of Europe/Berlin (Sunday 29 March 2026: 02:00 CET → 03:00 CEST).

The calendar: Monday to Friday 09:00-17:00 Europe/Berlin; Monday 30 March 2026 is a
holiday. Policy P2: first response 4h, resolution 12h of business time. Until Sunday
29 March Berlin is UTC+1 (CET); from then on UTC+2 (CEST).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opsengine.engine import Engine
from opsengine.tickets.calendar import BusinessCalendar, CalendarError


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CALENDAR = {
    "timezone": "Europe/Berlin",
    "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-03-30"],
}


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        engine.tickets.set_calendar("berlin", CALENDAR)
        engine.tickets.set_policy(
            "standard",
            {
                "calendar": "berlin",
                "targets": {"P2": {"first_response": "4h", "resolution": "12h"}},
            },
            queues=["support"],
        )
        yield engine


def test_clocks_cross_weekend_holiday_pending_and_dst(engine):
    desk = engine.tickets
    # Created Thursday 26 March 15:00 CET = 14:00 UTC.
    created = utc("2026-03-26T14:00")
    t = desk.create(
        subject="Cannot log in to the VPN", description="since this morning",
        requester={"name": "Ada", "email": "ada@example.com"}, priority="P2",
        queue="support", actor="op", created_at=created, at=created,
    )  # fmt: skip
    tid = t["id"]
    sla = t["sla"]
    assert sla["policy"] == "standard"
    # First response 4h: Thu 15:00-17:00 (2h) + Fri 27 09:00-11:00 CET (2h)
    #   → due Fri 27 March 11:00 CET = 10:00 UTC.
    assert sla["first_response_due"] == utc("2026-03-27T10:00")
    # Resolution 12h: Thu 2h + Fri 8h (10h); Sat, Sun (the DST change) closed; Mon 30 a
    # holiday; Tue 31 09:00-11:00 CEST (2h) → due Tue 31 March 11:00 CEST = 09:00 UTC.
    # (Had the walk kept the CET offset it would say 10:00 UTC.)
    assert sla["resolution_due"] == utc("2026-03-31T09:00")
    assert not sla["paused"] and not sla["first_response_breached"]

    # First response Fri 27 09:30 CET = 08:30 UTC: in time.
    desk.reply(tid, "Looking into it", actor="op", at=utc("2026-03-27T08:30"))
    # Pending (waiting on the requester) Fri 12:00 CET (11:00 UTC) ...
    desk.set_status(tid, "pending", actor="op", at=utc("2026-03-27T11:00"))
    during = desk.get(tid, now=utc("2026-03-27T12:00"))["sla"]
    assert during["paused"] is True
    assert during["resolution_due"] is None  # unknown until the pause ends
    assert during["first_response_due"] == utc("2026-03-27T10:00")
    assert during["first_response_breached"] is False
    # ... until the requester answers Fri 14:00 CET (13:00 UTC): 2h paused.
    desk.reply(tid, "here is the log", actor="ada@example.com", from_requester=True,
               via="email", at=utc("2026-03-27T13:00"))  # fmt: skip
    after = desk.get(tid, now=utc("2026-03-27T13:00"))
    assert after["status"] == "open"
    # Resolution 12h, not counting the pause: Thu 2h; Fri 09:00-12:00 (3h, total 5h),
    # paused 12:00-14:00, 14:00-17:00 (3h, total 8h); weekend; holiday Monday;
    # Tue 31 09:00-13:00 CEST (4h, total 12h) → due 13:00 CEST = 11:00 UTC.
    assert after["sla"]["resolution_due"] == utc("2026-03-31T11:00")
    assert after["sla"]["paused"] is False

    # One minute before the due time nothing is breached; on it, the resolution is.
    assert desk.get(tid, now=utc("2026-03-31T10:59"))["sla"]["resolution_breached"] is False
    late = desk.get(tid, now=utc("2026-03-31T11:00"))["sla"]
    assert late["resolution_breached"] is True
    assert late["first_response_breached"] is False
    # Time remaining is business time: at Tue 31 10:00 CEST (08:00 UTC) one hour of
    # Tuesday has passed, three are left.
    assert desk.get(tid, now=utc("2026-03-31T08:00"))["sla"]["resolution_remaining_s"] == 3 * 3600

    # Solved at Tue 31 12:30 CEST (10:30 UTC): in time, and it stays so afterwards.
    desk.set_status(tid, "solved", actor="op", at=utc("2026-03-31T10:30"))
    final = desk.get(tid, now=utc("2026-04-10T00:00"))["sla"]
    assert final["resolution_breached"] is False
    assert final["resolution_due"] == utc("2026-03-31T11:00")


def test_first_response_breach_over_the_weekend(engine):
    # Created Friday 27 March 16:00 CET (15:00 UTC). First response 4h: Fri 16:00-17:00
    # (1h); weekend and holiday Monday closed; Tue 31 09:00-12:00 CEST (3h)
    # → due Tue 31 March 12:00 CEST = 10:00 UTC. Not breached on Monday evening.
    t = engine.tickets.create(
        subject="Printer", description="jammed", requester="bob@example.com",
        priority="P2", queue="support", actor="op", created_at=utc("2026-03-27T15:00"),
        at=utc("2026-03-27T15:00"),
    )  # fmt: skip
    assert t["sla"]["first_response_due"] == utc("2026-03-31T10:00")
    monday = engine.tickets.get(t["id"], now=utc("2026-03-30T20:00"))["sla"]
    assert monday["first_response_breached"] is False
    assert monday["first_response_remaining_s"] == 3 * 3600
    tuesday = engine.tickets.get(t["id"], now=utc("2026-03-31T10:01"))["sla"]
    assert tuesday["first_response_breached"] is True


def test_a_24h_calendar_has_a_23_hour_day_at_spring_forward():
    cal = BusinessCalendar.from_spec(
        "always",
        {"timezone": "Europe/Berlin", "hours": {d: ["00:00-24:00"] for d in
         ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
    )  # fmt: skip
    # Sunday 29 March 2026 runs from 00:00 CET (Sat 23:00 UTC) to 24:00 CEST (Sun 22:00 UTC).
    day = cal.elapsed(utc("2026-03-28T23:00"), utc("2026-03-29T22:00"))
    assert day == 23 * 3600
    # 4h from Saturday 23:00 CET (22:00 UTC) is 02:00 UTC = 04:00 CEST, not 03:00.
    assert cal.add(utc("2026-03-28T22:00"), 4 * 3600) == utc("2026-03-29T02:00")


def test_calendar_refuses_overlapping_hours():
    with pytest.raises(CalendarError, match=r"^hours\.mon: hours overlap"):
        BusinessCalendar.from_spec(
            "bad", {"timezone": "Europe/Berlin", "hours": {"mon": ["09:00-13:00", "12:00-17:00"]}}
        )
    with pytest.raises(CalendarError, match=r"^timezone:"):
        BusinessCalendar.from_spec("bad", {"timezone": "Mars/Olympus", "hours": {"mon": []}})
