"""Notifications: retries with back-off, a dead receiver survived and reported, nothing sent
twice after the process dies mid-send, on-call rotations across DST, label matchers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.notify import (
    ChannelError,
    MatcherError,
    PolicyError,
    ScheduleError,
    SilenceError,
    parse_matcher,
    rotation_member,
)

from tests.support.incidents_helpers import SmtpInbox, WebhookReceiver, alert, at, free_port


@pytest.fixture
def hook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def engine_with(tmp_path, name="n.duckdb", attempts=3) -> Engine:
    settings = Settings()
    settings.incidents.notify_max_attempts = attempts
    settings.incidents.notify_backoff = "30s"
    return Engine(tmp_path / name, settings, admin_channel=False)


def webhook_channels(e: Engine, hook: WebhookReceiver, *names: str) -> None:
    """One webhook channel per name, posting to ``/NAME`` on the receiver."""
    for name in names:
        e.notify.outbox.set_channel(name, "webhook", {"url": f"{hook.url}/{name}"})


def test_a_failing_receiver_is_retried_with_back_off_and_every_try_recorded(tmp_path, hook):
    hook.statuses = [503, 502]
    with engine_with(tmp_path) as e:
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:ops"], "delay": "1h"}])
        e.alerts.publish(alert("09:00", "cpu_high", "firing", "08:58", {"host": "web1"}))
        [n] = e.notify.outbox.notifications()
        assert (n["state"], n["attempts"], n["next_attempt_at"]) == (
            "pending",
            1,
            at("09:00") + timedelta(seconds=30),
        )
        assert e.notify.tick(at("09:00") + timedelta(seconds=29)) == {"escalated": 0}
        assert e.notify.tick(at("09:00") + timedelta(seconds=30)) == {"escalated": 0, "retry": 1}
        # The second failure doubles the wait: 60 s.
        assert e.notify.tick(at("09:01") + timedelta(seconds=29)) == {"escalated": 0}
        assert e.notify.tick(at("09:01") + timedelta(seconds=30)) == {"escalated": 0, "sent": 1}
        tries = e.notify.outbox.attempts(n["key"])
        assert [(t["outcome"], t["error"]) for t in tries] == [
            ("failed", f"HTTP 503 from 127.0.0.1:{hook.server.server_port}"),
            ("failed", f"HTTP 502 from 127.0.0.1:{hook.server.server_port}"),
            ("sent", None),
        ]
        assert len(hook.requests) == 3
        assert len({r["key"] for r in hook.requests}) == 1  # one notice, three tries


def test_a_dead_receiver_is_given_up_and_reported_while_others_still_get_theirs(tmp_path, hook):
    dead = f"http://127.0.0.1:{free_port()}/gone"  # nothing listens there
    with engine_with(tmp_path, attempts=2) as e:
        e.notify.outbox.set_channel("dead", "webhook", {"url": dead})
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:dead", "channel:ops"]}])
        e.alerts.publish(alert("09:00", "cpu_high", "firing", "08:58", {"host": "web1"}))
        e.notify.tick(at("09:05"))
        states = {n["channel"]: n["state"] for n in e.notify.outbox.notifications()}
        assert states == {"dead": "failed", "ops": "sent"}
        [failed] = e.notify.outbox.notifications(state="failed")
        assert "Connection refused" in failed["last_error"]
        outcome = [ev for ev in e.incidents.timeline(1) if ev["kind"] == "notification"]
        assert [(ev["detail"]["channel"], ev["detail"]["outcome"]) for ev in outcome] == [
            ("ops", "sent"),
            ("dead", "failed"),
        ]
        assert len(hook.requests) == 1


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, UTC
    from opsengine.engine import Engine
    engine = Engine(sys.argv[1], admin_channel=False)
    sys.stdin.readline()  # wait until the receiver knows our pid
    engine.incidents.create("Payments failing", actor="carol", impact="high", urgency="high",
                            at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    print("not killed")
    """
)


def test_a_process_killed_between_send_and_record_sends_nothing_twice(tmp_path, hook):
    db = tmp_path / "k.duckdb"
    with engine_with(tmp_path, "k.duckdb") as e:
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:ops"], "delay": "5m"}])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    hook.kill_pid = child.pid
    out, _ = child.communicate("go\n", timeout=120)
    assert child.returncode == -9 and "not killed" not in out
    assert len(hook.requests) == 1

    with engine_with(tmp_path, "k.duckdb") as e:
        [n] = e.notify.outbox.notifications()
        assert n["state"] == "in_doubt" and n["attempts"] == 1
        assert [t["outcome"] for t in e.notify.outbox.attempts(n["key"])] == ["in_doubt"]
        e.notify.tick(at("09:01"))
        assert e.notify.outbox.notifications()[0]["state"] == "in_doubt"
        # Escalation continues for the unacknowledged incident; the in-doubt notice is not resent.
        assert len(hook.requests) == 1
        kinds = [(ev["kind"], ev["detail"].get("outcome")) for ev in e.incidents.timeline(1)]
        assert ("notification", "in_doubt") in kinds
        # An operator may decide to send it again.
        e.notify.outbox.retry(n["key"], at("09:02"))
        e.notify.tick(at("09:02"))
        assert len(hook.requests) == 2 and hook.requests[1]["key"] == n["key"]


def test_unacknowledged_incidents_escalate_and_repeat_until_acknowledged(tmp_path, hook):
    with engine_with(tmp_path) as e:
        webhook_channels(e, hook, "l1", "l2")
        e.notify.policies.set_policy(
            "db",
            [{"targets": "channel:l1", "delay": "5m"}, {"targets": ["channel:l2"], "delay": "10m"}],
            repeat=1,
            matchers=["service=~db.*"],
        )
        e.alerts.publish(alert("09:00", "pg_down", "firing", "09:00", {"service": "db-main"}))
        e.alerts.publish(alert("09:00", "web_down", "firing", "09:00", {"service": "web"}))
        assert e.notify.tick(at("10:00"))["escalated"] == 3  # l2 09:05, l1 09:15, l2 09:20
        assert e.notify.escalation(1)["state"] == "exhausted"
        assert [r["path"] for r in hook.requests] == ["/l1", "/l2", "/l1", "/l2"]
        reasons = [r["json"]["reason"] for r in hook.requests]
        assert reasons == ["triggered", "escalated to level 2", "escalated to level 1",
                           "escalated to level 2"]  # fmt: skip
        # web matched no policy: the timeline says so.
        assert e.incidents.timeline(2)[1]["detail"] == {"skipped": "no escalation policy matches"}


def test_a_maintenance_window_mutes_only_inside_its_span(tmp_path, hook):
    with engine_with(tmp_path) as e:
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:ops"]}])
        e.notify.silences.create_maintenance(
            "kernel upgrade", ["host=~db[0-9]+"], starts_at=at("02:00"), ends_at=at("04:00"),
            author="carol",
        )  # fmt: skip
        e.alerts.publish(alert("03:00", "host_down", "firing", "03:00", {"host": "db1"}))
        e.alerts.publish(alert("05:00", "host_down", "firing", "05:00", {"host": "db2"}))
        e.alerts.publish(alert("03:00", "host_down", "firing", "03:00", {"host": "xdb1"}))
        assert e.incidents.get(1)["suppressed_by"] == "maintenance 1 (kernel upgrade)"
        assert e.incidents.get(2)["suppressed_by"] is None
        assert e.incidents.get(3)["suppressed_by"] is None  # regexes are anchored
        assert [r["json"]["incident"]["id"] for r in hook.requests] == [2, 3]


def test_on_call_follows_the_local_hand_off_across_daylight_saving_and_overrides(tmp_path):
    berlin = ZoneInfo("Europe/Berlin")
    members = ["ann", "ben", "cat"]

    def who(local: datetime) -> str | None:
        return rotation_member(members, "weekly", date(2026, 3, 23), time(9, 0), berlin,
                               local.replace(tzinfo=berlin))  # fmt: skip

    assert who(datetime(2026, 3, 23, 8, 59)) is None  # before the first hand-off
    assert who(datetime(2026, 3, 23, 9, 0)) == "ann"
    # DST starts 29 March; the hand-off stays at 09:00 local (07:00 UTC, was 08:00 UTC).
    assert who(datetime(2026, 3, 30, 8, 59)) == "ann"
    assert who(datetime(2026, 3, 30, 9, 0)) == "ben"
    assert who(datetime(2026, 4, 13, 9, 0)) == "ann"
    with engine_with(tmp_path) as e:
        s = e.notify.schedules
        s.set_schedule("db", members=members, start_date="2026-03-23", timezone="Europe/Berlin")
        assert s.on_call("db", datetime(2026, 3, 30, 7, 0, tzinfo=UTC)) == "ben"
        assert s.on_call("db", datetime(2026, 3, 30, 6, 59, tzinfo=UTC)) == "ann"
        s.add_override("db", "dan", datetime(2026, 3, 30, 12, tzinfo=UTC),
                       datetime(2026, 3, 30, 18, tzinfo=UTC))  # fmt: skip
        assert s.on_call("db", datetime(2026, 3, 30, 12, tzinfo=UTC)) == "dan"
        assert s.on_call("db", datetime(2026, 3, 30, 18, tzinfo=UTC)) == "ben"
        assert e.notify.on_call_now(datetime(2026, 3, 30, 13, tzinfo=UTC)) == {"db": "dan"}
        with pytest.raises(ScheduleError, match="timezone 'Mars/Olympus'"):
            s.set_schedule("x", members=["a"], start_date="2026-01-01", timezone="Mars/Olympus")
        with pytest.raises(ScheduleError, match="handoff must be HH:MM"):
            s.set_schedule("x", members=["a"], start_date="2026-01-01", handoff="9am")


def test_matchers_and_bad_definitions_are_refused_with_the_place(tmp_path):
    assert parse_matcher("env!~dev|test").matches({"env": "prod"})
    assert not parse_matcher("env!~dev|test").matches({"env": "dev"})
    assert parse_matcher('host!="web1"').matches({})
    with pytest.raises(MatcherError, match="invalid regex"):
        parse_matcher("host=~web[")
    with engine_with(tmp_path) as e:
        with pytest.raises(PolicyError, match=r"levels\[1\]\.delay"):
            e.notify.policies.set_policy(
                "p", [{"targets": "channel:a"}, {"targets": "channel:b", "delay": "soon"}]
            )
        with pytest.raises(ChannelError, match=r"config\.url must be an http"):
            e.notify.outbox.set_channel("c", "webhook", {"url": "file:///etc/passwd"})
        with pytest.raises(ChannelError, match=r"config\.password is not stored"):
            e.notify.outbox.set_channel(
                "m", "email", {"host": "h", "from": "a@b", "to": "c@d", "password": "hunter2"}
            )
        with pytest.raises(SilenceError, match="comment: required"):
            e.notify.silences.create_silence(["host=a"], starts_at=None, ends_at=at("10:00"),
                                             author="x", comment="", at=at("09:00"))  # fmt: skip
        with pytest.raises(SilenceError, match="ends_at must be after"):
            e.notify.silences.create_silence(["host=a"], starts_at=at("10:00"), ends_at=at("09:00"),
                                             author="x", comment="y")  # fmt: skip
        assert e.notify.policies.list() == [] and e.notify.silences.list("silence") == []
        e.notify.outbox.set_channel("slack", "slack", {"url": "https://hooks.example/T1/B2/XYZ"})
        assert e.notify.outbox.channels()[0]["config"] == {"url": "https://hooks.example/…"}


def test_the_live_ticker_escalates_by_the_wall_clock(tmp_path, hook):
    with engine_with(tmp_path) as e:
        webhook_channels(e, hook, "first", "second")
        e.notify.policies.set_policy(
            "fast", [{"targets": "channel:first", "delay": "200ms"}, {"targets": "channel:second"}]
        )
        ticker = e.notify.start_ticker(0.05)
        # Now, by the wall clock; the first notice goes out from the ticker's thread.
        e.incidents.create("Queue backlog", actor="ann")
        assert e.notify.outbox.notifications()[0]["state"] in ("pending", "sending", "sent")
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=30)
            while len(hook.requests) < 2 and datetime.now(UTC) < deadline:
                ticker.join(0.05)
        finally:
            ticker.stop()
        assert [r["path"] for r in hook.requests] == ["/first", "/second"]
        assert ticker.errors == 0 and not ticker.is_alive()


def test_two_threads_sending_at_once_never_send_a_notice_twice(tmp_path, hook):
    """The ticker and an operator's tick (or the publisher) may both find the same notices
    due; each notice is claimed by exactly one of them."""
    with engine_with(tmp_path) as e:
        webhook_channels(e, hook, "a", "b", "c")
        e.notify.policies.set_policy("all", [{"targets": ["channel:a", "channel:b", "channel:c"]}])
        # While the first notice is in flight, another thread sends whatever is due.
        others: list[dict] = []
        hook.on_request = lambda: others.append(e.notify.tick(at("09:00")))
        e.alerts.publish(alert("09:00", "cpu_high", "firing", "08:58", {"host": "web1"}))
        assert others == [{"escalated": 0, "sent": 2}]
        assert sorted(r["path"] for r in hook.requests) == ["/a", "/b", "/c"]
        states = [(n["state"], n["attempts"]) for n in e.notify.outbox.notifications()]
        assert states == [("sent", 1)] * 3
        tries = [len(e.notify.outbox.attempts(n["key"])) for n in e.notify.outbox.notifications()]
        assert tries == [1, 1, 1]


def test_a_title_with_line_breaks_is_mailed_on_one_subject_line(tmp_path):
    """Alert summaries may span lines; the mail still goes out, with no injected header."""
    inbox = SmtpInbox()
    try:
        with engine_with(tmp_path) as e:
            e.notify.outbox.set_channel(
                "mail", "email",
                {"host": "127.0.0.1", "port": inbox.port, "from": "ops@example.org",
                 "to": "oncall@example.org"},
            )  # fmt: skip
            e.notify.policies.set_policy("all", [{"targets": ["channel:mail"]}])
            summary = "Disk full on /var\nBcc: everyone@example.org"
            e.alerts.publish(alert("09:00", "disk_full", "firing", "08:50", {"host": "db1"},
                                   annotations={"summary": summary}))  # fmt: skip
            [n] = e.notify.outbox.notifications()
            assert (n["state"], n["last_error"]) == ("sent", None)
        [mail] = inbox.messages
        assert mail["Bcc"] is None
        assert "Disk full on /var Bcc: everyone@example.org" in mail["Subject"]
    finally:
        inbox.close()


def test_an_unset_smtp_password_variable_is_reported_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv("OPSENGINE_TEST_SMTP_PW", raising=False)
    with engine_with(tmp_path, attempts=1) as e:
        e.notify.outbox.set_channel(
            "mail", "email",
            {"host": "127.0.0.1", "port": free_port(), "from": "ops@example.org",
             "to": "oncall@example.org", "username": "ops",
             "password_env": "OPSENGINE_TEST_SMTP_PW"},
        )  # fmt: skip
        e.notify.policies.set_policy("all", [{"targets": ["channel:mail"]}])
        e.incidents.create("Payments failing", actor="carol", at=at("09:00"))
        [n] = e.notify.outbox.notifications()
        assert n["state"] == "failed"
        assert "OPSENGINE_TEST_SMTP_PW" in n["last_error"]
        assert "not set" in n["last_error"]


def test_channel_listings_and_delivery_errors_never_show_url_secrets(tmp_path):
    port = free_port()  # nothing listens: the send fails and the error is recorded
    with engine_with(tmp_path, attempts=1) as e:
        e.notify.outbox.set_channel(
            "hook",
            "webhook",
            {
                "url": f"http://127.0.0.1:{port}/hooks/s3cret?token=t0ken",
                "headers": {"Authorization": "Bearer bot:b3arer"},
            },
        )
        shown = e.notify.outbox.channels()[0]["config"]["url"]
        assert shown == f"http://127.0.0.1:{port}/…"
        e.notify.policies.set_policy("all", [{"targets": ["channel:hook"]}])
        e.incidents.create("Payments failing", actor="carol", at=at("09:00"))
        [n] = e.notify.outbox.notifications()
        assert n["state"] == "failed" and n["last_error"].startswith(f"127.0.0.1:{port}: ")
        timeline = json.dumps([ev["detail"] for ev in e.incidents.timeline(1)])
        for secret in ("s3cret", "t0ken", "bot:", "b3arer"):
            assert secret not in n["last_error"] and secret not in timeline


def test_a_silence_created_while_an_incident_escalates_mutes_the_later_steps(tmp_path, hook):
    with engine_with(tmp_path) as e:
        webhook_channels(e, hook, "l1", "l2")
        e.notify.policies.set_policy(
            "db",
            [{"targets": "channel:l1", "delay": "5m"}, {"targets": "channel:l2", "delay": "5m"}],
            repeat=1,
        )
        e.alerts.publish(alert("09:00", "pg_down", "firing", "09:00", {"service": "db"}))
        # The operator looking into it silences it without acknowledging (Alertmanager habit).
        e.notify.silences.create_silence(
            ["service=db"], starts_at=at("09:02"), ends_at=at("09:30"), author="carol",
            comment="known, working on it", at=at("09:02"),
        )  # fmt: skip
        assert e.notify.tick(at("09:20"))["escalated"] == 3  # 09:05 l2, 09:10 l1, 09:15 l2
        assert [r["path"] for r in hook.requests] == ["/l1"]  # only the notice before it
        muted = e.notify.outbox.notifications(state="suppressed")
        assert [n["reason"] for n in muted] == ["escalated to level 2", "escalated to level 1",
                                                "escalated to level 2"]  # fmt: skip
        kinds = [ev["kind"] for ev in e.incidents.timeline(1)]
        assert kinds.count("suppressed") == 3


def test_a_page_waiting_for_its_retry_is_not_sent_after_the_acknowledgement(tmp_path, hook):
    hook.statuses = [503]  # the first try fails; the retry would be due at 09:00:30
    with engine_with(tmp_path) as e:
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:ops"], "delay": "1h"}])
        e.alerts.publish(alert("09:00", "cpu_high", "firing", "08:58", {"host": "web1"}))
        e.incidents.acknowledge(1, actor="ann", at=at("09:00") + timedelta(seconds=10))
        assert e.notify.tick(at("09:05")) == {"escalated": 0}
        assert len(hook.requests) == 1  # only the failed first try
        [n] = e.notify.outbox.notifications()
        assert n["state"] == "cancelled"
        assert n["last_error"] == "not sent: the incident was acknowledged first"
        # Resolving still tells whoever was told; nobody was, so nothing goes out.
        e.incidents.resolve(1, actor="ann", at=at("09:06"))
        assert len(hook.requests) == 1


def test_a_redirecting_webhook_is_a_failed_delivery_not_a_silent_get(tmp_path, hook):
    hook.statuses = [302]
    hook.location = f"{hook.url}/moved"
    with engine_with(tmp_path, attempts=1) as e:
        e.notify.outbox.set_channel("ops", "webhook", {"url": f"{hook.url}/ops"})
        e.notify.policies.set_policy("all", [{"targets": ["channel:ops"]}])
        e.incidents.create("Payments failing", actor="carol", at=at("09:00"))
        [n] = e.notify.outbox.notifications()
        assert n["state"] == "failed"
        assert n["last_error"].startswith(f"HTTP 302 from 127.0.0.1:{hook.server.server_port}")
        assert [r["path"] for r in hook.requests] == ["/ops"]  # no body-less GET to /moved
