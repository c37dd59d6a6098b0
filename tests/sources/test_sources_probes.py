"""Uptime probes against a real local HTTP(S) server and a closed port: results stored,
failure and recovery as alerts, certificate expiry, the ``uptime`` named query."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from opsengine.cli import main
from opsengine.config import load_settings
from opsengine.engine import Engine
from opsengine.sources.probes import ProbeCheck, Prober, checks_from_settings, run_check
from opsengine.store.named_queries import run_query

from tests.support.sources_net import closed_port

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Service(BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self):
        ok = type(self).healthy and self.path == "/health"
        body = b"status: OK" if ok else b"status: failing"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(context: ssl.SSLContext | None = None):
    handler = type("Handler", (_Service,), {"healthy": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


@pytest.fixture
def service():
    server, handler = _serve()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


def _check(**spec) -> ProbeCheck:
    return ProbeCheck.from_dict(spec, where="test")


def test_http_check_passes_on_status_and_body_and_is_stored(engine, service):
    url, _ = service
    check = _check(name="web", url=f"{url}/health", expect_status=200, body_contains="OK")
    prober = Prober(engine.store, engine.alerts, [check])
    [result] = prober.run_once(T0)
    assert result.ok and result.status == 200 and result.latency_ms > 0
    row = engine.query("SELECT * FROM probe_results").to_pylist()[0]
    assert row["service"] == "web" and row["ok"] and row["status"] == 200
    assert row["error"] is None and row["kind"] == "http"


def test_failure_fires_and_recovery_resolves_one_alert(engine, service):
    url, handler = service
    check = _check(name="checkout", url=f"{url}/health", body_contains="OK", fail_after=2)
    seen = []
    engine.alerts.subscribe("test", seen.append)
    prober = Prober(engine.store, engine.alerts, [check])
    handler.healthy = False
    prober.run_once(T0)
    assert engine.alerts.current().num_rows == 0  # one failure is not yet an outage
    prober.run_once(T0 + timedelta(seconds=30))
    handler.healthy = True
    prober.run_once(T0 + timedelta(seconds=60))
    prober.run_once(T0 + timedelta(seconds=90))
    alerts = engine.alerts.current().to_pylist()
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["rule"], a["state"], a["source"], a["severity"]) == (
        "probe_down", "resolved", "probe", "high",
    )  # fmt: skip
    assert a["active_since"] == T0 and a["fired_at"] == T0 + timedelta(seconds=30)
    assert a["resolved_at"] == T0 + timedelta(seconds=60)
    assert dict(a["labels"])["service"] == "checkout"
    assert "status 503" in dict(a["annotations"])["summary"]
    assert [t.column("state").to_pylist() for t in seen] == [["firing"], ["resolved"]]


def test_an_alert_that_could_not_be_published_fires_with_the_next_result(engine, service, tmp_path):
    """The store refusing one alert write must not leave the prober believing it fired."""
    from opsengine.alerts import AlertLog
    from opsengine.store import Store

    url, handler = service
    check = _check(name="checkout", url=f"{url}/health")
    prober = Prober(engine.store, engine.alerts, [check])
    gone = Store(tmp_path / "gone.duckdb")
    gone.close()
    prober.alerts = AlertLog(gone)  # the alert write fails once
    handler.healthy = False
    with pytest.raises(duckdb.Error, match=r"(?i)closed"):
        prober.run_once(T0)
    assert prober.status()["down"] == []
    prober.alerts = engine.alerts  # the store is back
    prober.run_once(T0 + timedelta(seconds=30))
    [a] = engine.alerts.current().to_pylist()
    assert (a["rule"], a["state"]) == ("probe_down", "firing")
    assert a["active_since"] == T0  # the first failure is still the first evidence
    assert prober.status()["down"] == ["checkout"]


def test_firing_state_survives_a_restart(engine, service):
    url, handler = service
    check = _check(name="api", url=f"{url}/health")
    handler.healthy = False
    Prober(engine.store, engine.alerts, [check]).run_once(T0)
    handler.healthy = True
    restarted = Prober(engine.store, engine.alerts, [check])
    assert restarted.status()["down"] == ["api"]
    restarted.run_once(T0 + timedelta(minutes=1))
    [a] = engine.alerts.current().to_pylist()
    assert a["state"] == "resolved" and a["active_since"] == T0


def test_a_firing_alert_of_a_removed_check_is_resolved_at_start(engine, service):
    url, handler = service
    handler.healthy = False
    Prober(engine.store, engine.alerts, [_check(name="old", url=f"{url}/health")]).run_once(T0)
    Prober(engine.store, engine.alerts, [_check(name="new", url=f"{url}/health")])
    [a] = engine.alerts.current().to_pylist()
    assert (a["rule"], a["state"], a["active_since"]) == ("probe_down", "resolved", T0)
    assert dict(a["annotations"])["resolution"] == "the check is no longer configured"


def test_tcp_check_open_and_closed_port(service):
    url, _ = service
    port = int(url.rsplit(":", 1)[1])
    assert run_check(_check(tcp=f"127.0.0.1:{port}")).ok
    closed = run_check(_check(tcp=f"127.0.0.1:{closed_port()}", timeout_s=2))
    assert not closed.ok and closed.error == "connection refused"
    refused = run_check(_check(url=f"http://127.0.0.1:{closed_port()}/"))
    assert not refused.ok and refused.error == "connection refused"


def test_latency_threshold_and_wrong_body_fail_with_reasons(service):
    url, _ = service
    slow = run_check(_check(url=f"{url}/health", max_latency_ms=0.000001))
    assert not slow.ok and slow.error.startswith("slow: ")
    body = run_check(_check(url=f"{url}/health", body_contains="green"))
    assert not body.ok and "body does not contain 'green'" in body.error


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command absent")
def test_https_certificate_expiry_alerts_while_the_service_stays_up(engine, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "5",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server, _ = _serve(context)
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/health"
        untrusted = run_check(_check(url=url))
        assert not untrusted.ok and untrusted.error.startswith("TLS certificate not trusted")
        check = _check(name="tls", url=url, cert_days=14, ca_file=str(cert))
        [r] = Prober(engine.store, engine.alerts, [check]).run_once()
    finally:
        server.shutdown()
        server.server_close()
    assert r.ok and 4 < r.cert_days_left <= 5
    [a] = engine.alerts.current().to_pylist()
    assert (a["rule"], a["state"]) == ("probe_cert_expiring", "firing")
    assert 4 < a["value"] <= 5


def test_uptime_named_query_per_service(engine, service):
    url, handler = service
    good = _check(name="a-good", url=f"{url}/health")
    flaky = _check(name="b-flaky", url=f"{url}/health")
    prober = Prober(engine.store, engine.alerts, [good, flaky])
    for i in range(4):
        handler.healthy = True
        prober.record(good, run_check(good, T0 + timedelta(minutes=i)))
        handler.healthy = i != 2  # b-flaky fails its third check
        prober.record(flaky, run_check(flaky, T0 + timedelta(minutes=i)))
    rows = run_query(engine.store, "uptime", {"from": "2026-03-01", "to": "2026-03-02"})
    by = {r["service"]: r for r in rows.to_pylist()}
    assert (by["a-good"]["checks"], by["a-good"]["passed"]) == (4, 4)
    assert by["a-good"]["uptime_percent"] == 100.0
    assert (by["b-flaky"]["checks"], by["b-flaky"]["passed"]) == (4, 3)
    assert by["b-flaky"]["uptime_percent"] == 75.0 and by["b-flaky"]["last_ok"] is True
    assert rows.column("service").to_pylist() == ["b-flaky", "a-good"]  # worst first
    empty = run_query(engine.store, "uptime", {"from": "2026-04-01", "to": "2026-04-02"})
    assert empty.num_rows == 0


def test_config_checks_and_their_errors(tmp_path):
    toml = tmp_path / "opsengine.toml"
    toml.write_text(
        "[probes]\ninterval_s = 15\n"
        '[[probes.check]]\nname = "web"\nurl = "https://example.com/"\ncert_days = 21\n'
        '[[probes.check]]\nname = "db"\ntcp = "db.internal:5432"\ninterval_s = 60\n'
    )
    checks = checks_from_settings(load_settings(toml, env={}).probes)
    assert [(c.name, c.kind, c.interval_s) for c in checks] == [
        ("web", "http", 15.0),
        ("db", "tcp", 60.0),
    ]
    settings = load_settings(toml, env={})
    settings.probes.check.append({"name": "x", "url": "ftp://x"})
    with pytest.raises(ValueError, match=r"probes\.check\[2\]\.url: expected an http"):
        checks_from_settings(settings.probes)
    with pytest.raises(ValueError, match=r"test: unknown key\(s\) expect"):
        _check(url="http://x/", expect=200)
    with pytest.raises(ValueError, match=r"test\.tcp: expected host:port"):
        _check(tcp="db")
    with pytest.raises(ValueError, match=r"test\.timeout_s: expected a number"):
        _check(tcp="db:1", timeout_s="soon")


def test_probe_command_exit_codes(service, capsys):
    url, _ = service
    assert main(["probe", f"{url}/health", "--contains", "OK"]) == 0
    assert "ok " in capsys.readouterr().out
    assert main(["probe", f"127.0.0.1:{closed_port()}"]) == 1
    assert "connection refused" in capsys.readouterr().out
    assert main(["probe", "ftp://nowhere"]) == 2
