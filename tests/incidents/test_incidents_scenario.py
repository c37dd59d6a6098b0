"""A scripted operations day: metric, log and probe alerts become incidents; escalation, a
real webhook receiver, a real SMTP server, a silence and inhibition; KPIs checked against
values computed by hand; and the same day replayed gives the same record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opsengine.engine import Engine
from opsengine.store.named_queries import run_query

from tests.support.incidents_helpers import DAY, alert, at, receivers

pytest.importorskip("aiosmtpd", reason="aiosmtpd (test extra) provides the local SMTP server")


def configure(engine: Engine, hook_url: str, smtp_port: int) -> None:
    out = engine.notify.outbox
    out.set_channel("ops-hook", "webhook", {"url": f"{hook_url}/ops"})
    out.set_channel(
        "alice-mail",
        "email",
        {"host": "127.0.0.1", "port": smtp_port, "from": "opsengine@example.org",
         "to": ["alice@example.org"]},
        owner="alice",
    )  # fmt: skip
    out.set_channel("bob-slack", "slack", {"url": f"{hook_url}/slack/T0/B0/secret"}, owner="bob")
    # 09:00 in Berlin is 08:00 UTC in March (CET): alice until then on 2 March, bob after.
    engine.notify.schedules.set_schedule(
        "primary", members=["alice", "bob"], rotation="daily", start_date="2026-03-01",
        handoff="09:00", timezone="Europe/Berlin",
    )  # fmt: skip
    engine.notify.policies.set_policy(
        "default",
        [{"targets": ["channel:ops-hook"], "delay": "10m"},
         {"targets": ["oncall:primary"], "delay": "15m"}],
    )  # fmt: skip
    engine.notify.silences.create_silence(
        ["service=batch"], starts_at=at("12:00"), ends_at=at("14:00"), author="carol",
        comment="batch cluster migration", at=at("11:55"),
    )  # fmt: skip


def play_day(engine: Engine) -> None:
    pub, inc, tick = engine.alerts.publish, engine.incidents, engine.notify.tick
    web = {"host": "web1", "service": "web"}
    # 1: CPU on web1 from 06:55, firing 07:00; latency joins it; alice (on call) is paged.
    pub(alert("07:00", "cpu_high", "firing", "06:55", web, severity="critical",
              category="performance", annotations={"summary": "CPU saturated"}))  # fmt: skip
    pub(alert("07:02", "cpu_high", "firing", "06:55", web, severity="critical",
              category="performance"))  # fmt: skip
    pub(alert("07:03", "latency_high", "firing", "07:01", web, category="performance"))
    tick(at("07:10"))
    inc.acknowledge(1, actor="alice", at=at("07:20"))
    tick(at("07:30"))
    pub(alert("07:40", "cpu_high", "resolved", "06:55", web, severity="critical"))
    pub(alert("07:45", "latency_high", "resolved", "07:01", web))
    # 2: brute force from the log rules; bob is on call after 08:00 UTC.
    bastion = {"host": "bastion", "rhost": "203.0.113.7"}
    pub(alert("10:00", "ssh_bruteforce", "firing", "09:58", bastion, severity="high",
              category="security", source="log"))  # fmt: skip
    tick(at("10:10"))
    inc.acknowledge(2, actor="bob", at=at("10:12"))
    inc.assign(2, "bob", actor="bob", at=at("10:12"))
    inc.add_note(2, "blocked 203.0.113.7 at the firewall", actor="bob", at=at("10:25"))
    inc.resolve(2, actor="bob", at=at("10:30"))
    inc.close(2, actor="bob", at=at("11:00"))
    # 3: a batch failure inside the silence: recorded, nobody told.
    pub(alert("12:30", "job_failed", "firing", "12:28", {"service": "batch", "host": "b1"}))
    tick(at("13:00"))
    pub(alert("12:50", "job_failed", "resolved", "12:28", {"service": "batch", "host": "b1"}))
    # 4 + 5: db1 goes down; its disk alert is inhibited by the host-down incident.
    pub(alert("15:00", "host_down", "firing", "14:59", {"host": "db1"}, severity="critical",
              category="availability", source="probe"))  # fmt: skip
    pub(alert("15:01", "disk_io", "firing", "15:00", {"host": "db1", "service": "storage"},
              severity="high", category="performance"))  # fmt: skip
    inc.acknowledge(4, actor="bob", at=at("15:05"))
    pub(alert("15:20", "host_down", "resolved", "14:59", {"host": "db1"}, severity="critical"))
    pub(alert("15:25", "disk_io", "resolved", "15:00", {"host": "db1", "service": "storage"}))
    tick(at("15:30"))


def snapshot(engine: Engine) -> dict:
    q = engine.query
    return {
        "incidents": q("SELECT * EXCLUDE (labels) FROM incidents ORDER BY id").to_pylist(),
        "events": q("SELECT * FROM incident_events ORDER BY id").to_pylist(),
        "notifications": q(
            "SELECT key, incident_id, channel, reason, state, attempts FROM notifications "
            "ORDER BY key"
        ).to_pylist(),
    }


def test_a_scripted_day_of_alerts(tmp_path):
    with receivers() as (hook, smtp), Engine(tmp_path / "day.duckdb", admin_channel=False) as e:
        configure(e, hook.url, smtp.port)
        play_day(e)
        assert e.alerts.subscriber_errors == {} and e.incidents.listener_errors == {}
        assert e.notify.errors == 0 and e.problems.errors == 0

        got = {
            i["id"]: (i["rule"], i["priority"], i["category"], i["state"], i["alert_count"])
            for i in e.incidents.list()
        }
        assert got == {
            1: ("cpu_high", "P1", "degraded performance", "resolved", 2),
            2: ("ssh_bruteforce", "P2", "security breach", "closed", 1),
            3: ("job_failed", "P3", "error", "resolved", 1),
            4: ("host_down", "P1", "outage", "resolved", 1),
            5: ("disk_io", "P2", "degraded performance", "resolved", 1),
        }
        one = e.incidents.get(1)
        assert one["title"] == "CPU saturated (web1)"
        assert (one["started_at"], one["detected_at"]) == (at("06:55"), at("07:00"))
        assert (one["acknowledged_at"], one["resolved_at"]) == (at("07:20"), at("07:45"))
        assert [a["rule"] for a in one["alerts"]] == ["cpu_high", "latency_high"]
        assert e.incidents.get(2)["assignee"] == "bob"
        assert e.incidents.get(3)["suppressed_by"] == "silence 1 by carol"
        assert (
            e.incidents.get(5)["suppressed_by"] == "inhibition: incident 4 (host_down) on host db1"
        )

        # The webhook got the triggered and resolved notices of the incidents not muted.
        ops = [(r["json"]["incident"]["id"], r["json"]["reason"]) for r in hook.received("/ops")]
        assert ops == [
            (1, "triggered"), (1, "resolved"), (2, "triggered"), (2, "resolved"),
            (4, "triggered"), (4, "resolved"),
        ]  # fmt: skip
        assert all(r["key"] == r["json"]["idempotency_key"] for r in hook.received("/ops"))
        # Escalation after 10 minutes unacknowledged: alice by mail at 07:10, bob on Slack at 10:10.
        slack = hook.received("/slack/T0/B0/secret")
        assert [r["json"]["text"] for r in slack] == [
            "Incident #2 [P2] ssh_bruteforce (bastion) — escalated to level 2",
            "Incident #2 [P2] ssh_bruteforce (bastion) — resolved",
        ]
        assert [m["Subject"] for m in smtp.messages] == [
            "Incident #1 [P1] CPU saturated (web1) — escalated to level 2",
            "Incident #1 [P1] CPU saturated (web1) — resolved",
        ]
        assert smtp.messages[0]["To"] == "alice@example.org"
        assert "Priority: P1" in smtp.messages[0].get_content()
        # Muted incidents keep a record of who would have been told.
        muted = e.notify.outbox.notifications(state="suppressed")
        assert [(n["incident_id"], n["channel"]) for n in muted] == [
            (3, "ops-hook"),
            (5, "ops-hook"),
        ]
        assert e.notify.escalation(1)["state"] == "stopped"
        assert e.notify.escalation(3) is None

        kinds = [ev["kind"] for ev in e.incidents.timeline(2)]
        assert kinds == [
            "opened", "notified", "notification", "notified", "notification", "state",
            "assigned", "note", "state", "notified", "notification", "notification", "state",
        ]  # fmt: skip
        note = e.incidents.timeline(2)[7]
        assert (note["actor"], note["detail"]["text"]) == (
            "bob",
            "blocked 203.0.113.7 at the firewall",
        )

        # KPIs by hand. MTTD: 300+120+120+60+60 s over 5; MTTA: 1200+720+300 s over 3;
        # MTTR: 2700+1800+1200+1200+1440 s over 5.
        window = {"from": DAY, "to": DAY + timedelta(days=1)}
        mttd = run_query(e.store, "mttd", window).to_pylist()[0]
        mtta = run_query(e.store, "mtta", window).to_pylist()[0]
        mttr = run_query(e.store, "mttr", window).to_pylist()[0]
        assert (mttd["incidents"], mttd["mean_seconds"], mttd["max_seconds"]) == (5, 132.0, 300.0)
        assert (mtta["waiting"], mtta["mean_seconds"], mtta["median_seconds"]) == (2, 740.0, 720.0)
        assert (mttr["mean_seconds"], mttr["median_seconds"]) == (1668.0, 1440.0)
        security = run_query(e.store, "security_incidents", window).to_pylist()
        assert [(r["week"].isoformat(), r["incidents"], r["high_priority"]) for r in security] == [
            ("2026-03-02", 1, 1)
        ]
        weekly = run_query(e.store, "incidents_by_week", window).to_pylist()
        assert [(r["category"], r["priority"], r["service"], r["incidents"]) for r in weekly] == [
            ("degraded performance", "P1", "web", 1),
            ("degraded performance", "P2", "storage", 1),
            ("error", "P3", "batch", 1),
            ("outage", "P1", "", 1),
            ("security breach", "P2", "", 1),
        ]
        later = run_query(
            e.store, "mttr", {"from": DAY + timedelta(days=1), "to": DAY + timedelta(days=2)}
        )
        assert later.to_pylist()[0]["incidents"] == 0


def test_the_same_day_replayed_gives_the_same_record(tmp_path):
    snapshots = []
    with receivers() as (hook, smtp):
        for run in ("a", "b"):
            with Engine(tmp_path / f"{run}.duckdb", admin_channel=False) as e:
                configure(e, hook.url, smtp.port)
                play_day(e)
                snapshots.append(snapshot(e))
        assert snapshots[0] == snapshots[1]
        sent_before = len(hook.requests), len(smtp.messages)
        # The alerts of the day published again into the same store change nothing.
        with Engine(tmp_path / "a.duckdb", admin_channel=False) as e:
            rows = e.query("SELECT * FROM alerts").num_rows
            again = e.query(
                "SELECT updated_at AS ts, rule, fingerprint, state, labels, annotations, value, "
                "active_since, fired_at, resolved_at, severity, category, source FROM alerts"
            )
            e.alerts.publish(again)
            e.notify.tick(at("16:00"))
            assert e.query("SELECT * FROM alerts").num_rows == rows
            assert snapshot(e) == snapshots[0]
        assert (len(hook.requests), len(smtp.messages)) == sent_before
