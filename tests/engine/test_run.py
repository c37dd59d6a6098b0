"""``opsengine run`` as a user starts it: a real process, a real port, a real SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import duckdb
import pytest

from tests.support.api_helpers import RunningEngine


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_run_serves_the_api_and_stops_cleanly_on_sigterm(tmp_path, server):
    engine = RunningEngine(tmp_path, "--server", server)
    try:
        assert engine.token, "first start prints an admin token"
        status, body = engine.call(
            "POST", "/api/v1/ingest/logs?source=smoke&host=h1", engine.token,
            b"kernel: Out of memory: Killed process 7 (java)\nsecond line\n",
        )  # fmt: skip
        assert (status, body["accepted"]) == (200, 2), body
        status, found = engine.call("GET", "/api/v1/logs?text=killed%20process", engine.token)
        assert status == 200 and [x["host"] for x in found["items"]] == ["h1"]
        status, _ = engine.call("GET", "/api/v1/logs", "oek_000000000000_" + "x" * 43)
        assert status == 401
        with urllib.request.urlopen(engine.url + "/health", timeout=30) as r:
            assert json.loads(r.read())["components"]["store"]["status"] == "ok"
    finally:
        code, output = engine.stop()
    assert code == 0, output
    assert "everything accepted is stored" in output
    db = tmp_path / "opsengine.duckdb"  # the default file, in the working directory
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM logs WHERE source = 'smoke'").fetchone()[0] == 2
        stored = con.execute("SELECT token_sha256, role FROM api_keys").fetchall()
        assert len(stored) == 1 and stored[0][1] == "admin" and engine.token not in str(stored)
        audit = con.execute("SELECT action, outcome FROM audit_log ORDER BY ts").fetchall()
        assert ("POST /api/v1/ingest/logs", "ok") in audit
        assert ("GET /api/v1/logs", "unauthenticated") in audit


def test_a_second_start_prints_no_token_and_the_first_still_works(tmp_path):
    db = str(tmp_path / "ops.duckdb")
    first = RunningEngine(tmp_path, "--db", db)
    token = first.token
    assert first.stop()[0] == 0
    second = RunningEngine(tmp_path, "--db", db)
    try:
        assert second.token is None
        assert "admin token" not in "".join(second.lines)
        assert second.call("GET", "/api/v1/keys", token)[0] == 200
    finally:
        assert second.stop()[0] == 0


def test_run_refuses_a_taken_port_and_bad_settings(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "opsengine.cli", "run", "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    (tmp_path / "opsengine.toml").write_text("[api]\nrate_limit = 'fast'\n")
    r = subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "api.rate_limit" in r.stderr


def test_run_starts_the_sources_and_flushes_what_they_received_on_sigterm(tmp_path):
    import socket
    import time

    with socket.socket() as probe:  # a free port for the syslog listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = RunningEngine(
        tmp_path,
        extra_env={
            "OPSENGINE_SYSLOG_ENABLED": "true",
            "OPSENGINE_SYSLOG_LISTEN": f"127.0.0.1:{port}",
            "OPSENGINE_SYSLOG_FLUSH_MS": "600000",  # only the shutdown flush stores it
        },
    )
    try:
        assert f"syslog: udp/tcp 127.0.0.1:{port}" in "".join(engine.lines)
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"<11>1 2024-05-10T10:00:00Z db9 backup - - - backup job failed\n")
        received = 0
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:  # wait for the listener's count
            with urllib.request.urlopen(engine.url + "/health", timeout=30) as r:
                sources = json.loads(r.read())["components"]["sources"]["detail"]["sources"]
            received = sources["syslog"]["received_tcp"]
            time.sleep(0.05)
        assert received == 1
    finally:
        code, output = engine.stop()
    assert code == 0, output
    with duckdb.connect(str(tmp_path / "opsengine.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT host, level, message FROM logs").fetchall()
    assert rows == [("db9", "error", "backup job failed")]
