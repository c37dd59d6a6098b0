"""``start_sources``: what ``opsengine run`` starts — files, syslog, probes, host — all
feeding one engine, a source that cannot start reported while the others run, and the
escalation ticker that pages the next level when nobody acknowledges."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.sources import start_sources

from tests.support.incidents_helpers import WebhookReceiver
from tests.support.sources_net import closed_port, wait_for


def test_all_sources_feed_one_engine_and_stop(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("Dec  1 10:00:00 web1 app[1]: from a file\n")
    settings = Settings()
    settings.files.paths = [str(log)]
    settings.files.poll_ms = 50
    settings.syslog.listen = "127.0.0.1:0"
    settings.syslog.flush_ms = 50
    settings.probes.check = [{"name": "db", "tcp": f"127.0.0.1:{closed_port()}"}]
    with Engine(tmp_path / "store.duckdb", settings, admin_channel=False) as engine:
        running = start_sources(engine, settings)
        try:
            assert set(running.sources) == {
                "files",
                "syslog",
                "probes",
                "host",
                "config_snapshots",
                "inventory",
                "escalation",
                "rule_clock",
                "maintenance",
                "sla_clock",
                "compaction",
            }
            port = running.sources["syslog"].port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"<11>Dec  1 10:00:01 web2 api[7]: over udp", ("127.0.0.1", port))
            assert wait_for(lambda: running.status()["syslog"]["stored"] == 1)
            assert wait_for(lambda: running.status()["files"]["lines_stored"] == 1)
            assert wait_for(lambda: running.status()["host"]["ticks"] >= 1)
            assert wait_for(lambda: running.status()["probes"]["down"] == ["db"])
            banner = running.describe()
            assert any(line.startswith("syslog: udp/tcp 127.0.0.1:") for line in banner)
        finally:
            running.stop()
        messages = engine.query("SELECT source, message FROM logs ORDER BY message").to_pylist()
        assert messages == [
            {"source": str(log), "message": "from a file"},
            {"source": "syslog", "message": "over udp"},
        ]
        assert engine.query("SELECT count(*) AS n FROM metrics").to_pylist()[0]["n"] > 10
        [alert] = engine.alerts.current().to_pylist()
        assert (alert["rule"], alert["state"]) == ("probe_down", "firing")


def test_a_source_that_cannot_start_is_reported_and_the_rest_run(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    settings = Settings()
    settings.files.paths = [str(tmp_path / "absent.log")]
    settings.syslog.listen = f"127.0.0.1:{taken.getsockname()[1]}"
    settings.host.enabled = False
    with Engine(tmp_path / "store.duckdb", settings, admin_channel=False) as engine:
        running = start_sources(engine, settings)
        try:
            assert "cannot listen on" in running.problems["syslog"]
            assert set(running.sources) == {
                "files", "config_snapshots", "inventory", "escalation", "rule_clock",
                "maintenance", "sla_clock", "compaction",
            }  # fmt: skip
            assert running.status()["syslog"]["ok"] is False
        finally:
            running.stop()
            taken.close()


def test_a_live_engine_escalates_unacknowledged_incidents_by_itself(tmp_path):
    settings = Settings()
    settings.files.enabled = False
    settings.syslog.enabled = False
    settings.host.enabled = False
    hook = WebhookReceiver()
    with Engine(tmp_path / "store.duckdb", settings, admin_channel=False) as engine:
        for name in ("primary", "secondary"):
            engine.notify.outbox.set_channel(name, "webhook", {"url": f"{hook.url}/{name}"})
        engine.notify.policies.set_policy(
            "all", [{"targets": "channel:primary", "delay": "1s"}, {"targets": "channel:secondary"}]
        )
        running = start_sources(engine, settings)
        try:
            assert set(running.sources) == {
                "config_snapshots", "inventory", "escalation", "rule_clock", "maintenance",
                "sla_clock", "compaction",
            }  # fmt: skip
            engine.incidents.create("Checkout failing", actor="ann")  # now, by the wall clock
            assert wait_for(lambda: len(hook.requests) == 2), engine.notify.outbox.notifications()
        finally:
            running.stop()
            hook.close()
        assert [r["path"] for r in hook.requests] == ["/primary", "/secondary"]
        assert running.sources == {}


def test_the_rule_clock_notices_a_host_that_went_silent(tmp_path):
    """No sample arrives, yet the live engine raises host_down: the clock moves rule time."""
    import pyarrow as pa
    from opsengine.sources.runner import RuleClock

    now = datetime.now(UTC).replace(microsecond=0)
    ts = [now - timedelta(minutes=30) + timedelta(seconds=10 * i) for i in range(30)]
    samples = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "host": ["web9"] * 30,
            "name": ["uptime_seconds"] * 30,
            "labels": pa.array([[]] * 30, pa.map_(pa.string(), pa.string())),
            "value": [1000.0 + 10 * i for i in range(30)],
        }
    )
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as engine:
        engine.ingest_metrics(samples)
        assert engine.alerts.current(state="firing").num_rows == 0
        clock = RuleClock(engine, 0.05).start()
        try:
            assert wait_for(lambda: clock.status()["alert_changes"] >= 1)
        finally:
            clock.stop()
        firing = engine.alerts.current(state="firing").to_pylist()
        assert [(a["rule"], dict(a["labels"])["host"]) for a in firing] == [("host_down", "web9")]
        assert clock.status()["errors"] == 0
