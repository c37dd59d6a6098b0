"""SLA warnings (75 %) and breaches are alerts on the engine's alert path: they open an
incident like any other alert, and resolve when the target is met."""

from __future__ import annotations

from datetime import UTC, datetime

from opsengine.config import Settings
from opsengine.engine import Engine


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_warning_then_breach_then_resolved_by_the_first_response(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        desk = engine.tickets
        desk.set_calendar("office", {"timezone": "Europe/Berlin",
                                     "hours": {d: ["09:00-17:00"] for d in
                                               ("mon", "tue", "wed", "thu", "fri")}})  # fmt: skip
        desk.set_policy("std", {"calendar": "office",
                                "targets": {"P2": {"first_response": "4h"}}}, queues=["support"])  # fmt: skip
        # Created Monday 7 December 2026 09:00 CET (08:00 UTC). First response 4h → due
        # 13:00 CET (12:00 UTC); 75 % (3h) is reached at 12:00 CET (11:00 UTC).
        t = desk.create(subject="Laptop broken", description="screen black",
                        requester="eve@example.com", priority="P2", queue="support",
                        actor="op", created_at=utc("2026-12-07T08:00"),
                        at=utc("2026-12-07T08:00"))  # fmt: skip
        checks = desk.sla_alerts
        assert checks.check(utc("2026-12-07T10:59")) == 0
        assert checks.check(utc("2026-12-07T11:30")) == 1
        assert checks.check(utc("2026-12-07T11:45")) == 0  # still firing: nothing new
        firing = engine.alerts.current(state="firing").to_pylist()
        assert [(a["rule"], a["source"]) for a in firing] == [("ticket_sla_warning", "sla")]
        assert firing[0]["active_since"] == utc("2026-12-07T11:00")
        assert dict(firing[0]["labels"])["ticket"] == str(t["id"])
        # The alert opened an incident, as probes and metric rules do.
        [incident] = engine.incidents.list()
        assert incident["rule"] == "ticket_sla_warning" and incident["state"] == "triggered"

        assert checks.check(utc("2026-12-07T12:00")) == 1  # the breach, on the due minute
        rules = sorted(a["rule"] for a in engine.alerts.current(state="firing").to_pylist())
        assert rules == ["ticket_sla_breach", "ticket_sla_warning"]
        assert engine.tickets.get(t["id"], now=utc("2026-12-07T12:00"))["sla"][
            "first_response_breached"
        ]

        # A late first response stops the clock: both alerts resolve, and so does the
        # incident they were behind.
        desk.reply(t["id"], "on it", actor="op", at=utc("2026-12-07T12:10"))
        assert checks.check(utc("2026-12-07T12:11")) == 2
        assert engine.alerts.current(state="firing").num_rows == 0
        assert engine.incidents.get(incident["id"])["state"] == "resolved"


def test_the_warning_threshold_is_configurable(tmp_path):
    settings = Settings()
    settings.tickets.sla_warning_percent = 50
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        desk = engine.tickets
        desk.set_calendar("always", {"timezone": "UTC", "hours": {d: ["00:00-24:00"] for d in
                          ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})  # fmt: skip
        desk.set_policy("std", {"calendar": "always",
                                "targets": {"P3": {"resolution": "4h"}}}, queues=["support"])  # fmt: skip
        desk.create(subject="s", description="d", requester="a@example.com", actor="op",
                    created_at=utc("2026-12-07T08:00"), at=utc("2026-12-07T08:00"))  # fmt: skip
        assert desk.sla_alerts.check(utc("2026-12-07T09:59")) == 0
        assert desk.sla_alerts.check(utc("2026-12-07T10:00")) == 1  # half of 4h


def test_solved_tickets_close_after_the_configured_days(tmp_path):
    from datetime import timedelta

    settings = Settings()
    settings.tickets.close_solved_after_days = 4
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        desk = engine.tickets
        solved_at = utc("2026-12-01T10:00")
        old = desk.create(subject="old", description="d", requester="a@example.com",
                          actor="op", at=solved_at)  # fmt: skip
        desk.set_status(old["id"], "solved", actor="op", at=solved_at)
        recent = desk.create(subject="new", description="d", requester="a@example.com",
                             actor="op", at=solved_at)  # fmt: skip
        desk.set_status(recent["id"], "solved", actor="op", at=solved_at + timedelta(days=2))
        assert desk.close_solved(solved_at + timedelta(days=4, minutes=-1)) == []
        assert desk.close_solved(solved_at + timedelta(days=4)) == [old["id"]]
        assert desk.get(old["id"])["status"] == "closed"
        assert desk.get(recent["id"])["status"] == "solved"
        assert desk.history(old["id"])[-1]["detail"]["reason"] == "solved for 4 days"
