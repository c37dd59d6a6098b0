"""Data in over HTTP: logs (text, NDJSON, Arrow), metrics, Alertmanager; bad input stores nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.support.api_helpers import api_settings, assert_problem, running_api

SSH_FAIL = (
    "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 "
    "euid=0 tty=NODEVssh ruser= rhost=218.188.2.4"
)
ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


def count(api, table: str) -> int:
    return api.engine.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()


def arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_text_lines_are_stored_matched_and_found_by_search(api):
    body = f"{SSH_FAIL}\r\nservice started\r\n\r\nlast line without newline".encode()
    r = api.post("/api/v1/ingest/logs?source=web1-auth&host=web1", role="operator", content=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 3,
        "rejected": 1,
        "rejected_reasons": {"empty line": 1},
        "events": 1,
        "seconds": r.json()["seconds"],
        "stored_with": 0,
    }
    found = api.get("/api/v1/logs?source=web1-auth&text=SERVICE").json()["items"]
    assert [x["raw"] for x in found] == ["service started"]  # no \r left, case-insensitive
    assert found[0]["host"] == "web1"
    events = api.get("/api/v1/events?rule=pam_authentication_failure").json()["items"]
    assert [(e["host"], e["fields"]["rhost"]) for e in events] == [("web1", "218.188.2.4")]


def test_ndjson_records_keep_their_own_host_and_source(api):
    body = (
        b'{"line": "disk full on /var", "host": "db1"}\n'
        b'{"message": "ignored: message and line mixed"}\n'
    )
    # a body naming both line and message is refused as a whole
    r = api.post("/api/v1/ingest/logs", role="operator", content=body, headers=NDJSON)
    assert_problem(r, 422, field="$.line")
    assert count(api, "logs") == 0

    body = (
        b'{"line": "disk full on /var", "host": "db1", "source": "syslog"}\n'
        b'{"line": "GET / 200", "host": "web1"}\n'
        b"\n"
        b'{"line": "GET /x 404", "host": "web1"}\n'
        b'{"line": null, "host": "web1"}\n'
    )
    r = api.post("/api/v1/ingest/logs?source=app", role="operator", content=body, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected_reasons"]) == (3, {"line is null": 1})
    rows = api.engine.query("SELECT host, source, raw FROM logs ORDER BY raw").to_pylist()
    assert rows == [
        {"host": "web1", "source": "app", "raw": "GET / 200"},
        {"host": "web1", "source": "app", "raw": "GET /x 404"},
        {"host": "db1", "source": "syslog", "raw": "disk full on /var"},
    ]


def test_an_arrow_ipc_stream_of_lines_is_ingested(api):
    table = pa.table({"line": [SSH_FAIL, "second"], "host": ["h1", None]})
    r = api.post("/api/v1/ingest/logs", role="operator", content=arrow_stream(table), headers=ARROW)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    hosts = api.engine.query("SELECT raw, host FROM logs ORDER BY id").to_pylist()
    # a null host falls back to the host parsed from the line (none in "second")
    assert sorted((h["raw"], h["host"]) for h in hosts) == [(SSH_FAIL, "h1"), ("second", None)]


def test_invalid_utf8_anywhere_rejects_the_whole_body(api):
    body = b"good line one\ngood line two\nbad \xff\xfe here\n"
    r = api.post("/api/v1/ingest/logs", role="operator", content=body)
    problem = assert_problem(r, 422, field="body:line 3")
    assert "line 3" in problem["detail"] and "nothing was stored" in problem["detail"]
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=b'{"line": "caf\xe9"}\n', headers=NDJSON
    )
    assert_problem(r, 422, field="body:line 1")
    assert count(api, "logs") == 0


def test_malformed_ndjson_and_unknown_fields_store_nothing(api):
    r = api.post(
        "/api/v1/ingest/logs",
        role="operator",
        content=b'{"line": "fine"}\n{"line": "broken",}\n',
        headers=NDJSON,
    )
    assert "record 2" in assert_problem(r, 400)["detail"]
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=b'{"line": "x", "lvl": 3}\n', headers=NDJSON
    )
    assert_problem(r, 422, field="$.lvl")
    r = api.post("/api/v1/ingest/logs", role="operator", content=b"not arrow", headers=ARROW)
    assert_problem(r, 400)
    assert count(api, "logs") == 0


def test_wrong_content_type_is_415(api):
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=b"a=b", headers={"content-type": "text/csv"}
    )
    assert_problem(r, 415, field="header:content-type")
    r = api.post(
        "/api/v1/ingest/logs",
        role="operator",
        content=b"x",
        headers={"content-type": "text/plain; charset=latin-1"},
    )
    assert_problem(r, 415)


def test_a_100_mb_body_is_refused_with_413(api):
    body = b"x" * (100 * 1024 * 1024)
    r = api.post("/api/v1/ingest/logs", role="operator", content=body)
    assert_problem(r, 413)
    assert count(api, "logs") == 0


def test_a_full_ingest_queue_answers_503_with_retry_after(tmp_path):
    with running_api(tmp_path, api_settings(ingest_queue=1, ingest_workers=1)) as api:
        release = threading.Event()
        blocker = api.services.queue.submit(release.wait)
        try:
            r = api.post("/api/v1/ingest/logs", role="operator", content=b"one line\n")
            assert "queue is full" in assert_problem(r, 503)["detail"]
            assert r.headers["retry-after"] == "1"
            assert count(api, "logs") == 0
        finally:
            release.set()
            blocker.result()
        r = api.post("/api/v1/ingest/logs", role="operator", content=b"one line\n")
        assert r.status_code == 200 and count(api, "logs") == 1
        metrics = api.client.get("/metrics").text
        assert "opsengine_ingest_queue_full_total 1.0" in metrics


def test_json_arrow_and_prometheus_metric_samples_are_stored(api):
    body = [
        {"name": "cpu_usage", "value": 0.5, "ts": "2024-05-10T10:00:00Z", "labels": {"cpu": "0"}},
        {"name": "mem_used", "value": 1024},
    ]
    r = api.post("/api/v1/ingest/metrics?host=db1", role="operator", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    rows = api.engine.query(
        "SELECT name, host, labels, value FROM metrics ORDER BY name"
    ).to_pylist()
    assert [(x["name"], x["host"], dict(x["labels"]), x["value"]) for x in rows] == [
        ("cpu_usage", "db1", {"cpu": "0"}, 0.5),
        ("mem_used", "db1", {}, 1024.0),
    ]
    ndjson = b'{"name": "queue_depth", "value": 7, "host": "mq1"}\n'
    r = api.post("/api/v1/ingest/metrics", role="operator", content=ndjson, headers=NDJSON)
    assert r.status_code == 200, r.text
    t0 = datetime(2024, 5, 10, 10, tzinfo=UTC)
    table = pa.table({"ts": [t0], "name": ["disk_free"], "value": [3.5], "host": ["h9"]})
    r = api.post(
        "/api/v1/ingest/metrics", role="operator", content=arrow_stream(table), headers=ARROW
    )
    assert r.status_code == 200, r.text
    text = b'# TYPE up gauge\nup{job="node"} 1\nup{job="db",host="db7"} 0\n'
    r = api.post(
        "/api/v1/ingest/metrics?host=scraped",
        role="operator",
        content=text,
        headers={"content-type": "text/plain; version=0.0.4"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    up = api.engine.query("SELECT host, value FROM metrics WHERE name = 'up' ORDER BY host")
    assert up.to_pylist() == [{"host": "db7", "value": 0.0}, {"host": "scraped", "value": 1.0}]
    assert count(api, "metrics") == 6


def test_bad_metric_samples_name_the_place_and_store_nothing(api):
    r = api.post(
        "/api/v1/ingest/metrics",
        role="operator",
        json=[{"name": "a", "value": 1}, {"name": "b", "value": "high"}],
    )
    assert_problem(r, 422, field="$[1].value")
    r = api.post(
        "/api/v1/ingest/metrics", role="operator", json=[{"name": "a", "value": 1, "unit": "s"}]
    )
    assert "unknown field 'unit'" in assert_problem(r, 422)["detail"]
    r = api.post(
        "/api/v1/ingest/metrics",
        role="operator",
        content=b"up 1\nbroken{ 2\n",
        headers={"content-type": "text/plain"},
    )
    assert_problem(r, 422, field="body:line 2")
    table = pa.table({"name": ["x"], "value": [1.0]})  # no ts column
    r = api.post(
        "/api/v1/ingest/metrics", role="operator", content=arrow_stream(table), headers=ARROW
    )
    assert "missing column" in assert_problem(r, 422)["detail"]
    assert count(api, "metrics") == 0


def alertmanager_payload(status: str, ends: str = "0001-01-01T00:00:00Z", **extra) -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": status,
        "receiver": "opsengine",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "warning"},
                "annotations": {"summary": "disk almost full"},
                "startsAt": "2024-05-10T10:00:00Z",
                "endsAt": ends,
                "generatorURL": "http://prometheus/graph",
            },
        ],
        **extra,
    }


def test_an_alertmanager_webhook_stores_alerts_and_opens_an_incident(api):
    r = api.post(
        "/api/v1/ingest/alertmanager", role="operator", json=alertmanager_payload("firing")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (1, 0)
    alerts = api.get("/api/v1/alerts?source=alertmanager").json()["items"]
    assert [(a["rule"], a["state"], a["severity"], a["labels"]["instance"]) for a in alerts] == [
        ("DiskFull", "firing", "medium", "db1:9100")
    ]
    assert alerts[0]["annotations"]["generator_url"] == "http://prometheus/graph"
    if hasattr(api.engine, "incidents"):
        opened = api.engine.query("SELECT rule, state FROM incidents").to_pylist()
        assert opened == [{"rule": "DiskFull", "state": "triggered"}]

    resolved = alertmanager_payload("resolved", ends="2024-05-10T10:20:00Z")
    assert (
        api.post("/api/v1/ingest/alertmanager", role="operator", json=resolved).status_code == 200
    )
    alerts = api.get(f"/api/v1/alerts/{alerts[0]['fingerprint']}").json()
    assert [(a["state"], a["resolved_at"]) for a in alerts] == [
        ("resolved", "2024-05-10T10:20:00Z")
    ]


def test_a_bad_alertmanager_payload_is_refused(api):
    r = api.post(
        "/api/v1/ingest/alertmanager",
        role="operator",
        json=alertmanager_payload("firing", version="3"),
    )
    assert_problem(r, 422, field="$.version")
    body = alertmanager_payload("firing")
    del body["alerts"][0]["startsAt"]
    r = api.post("/api/v1/ingest/alertmanager", role="operator", json=body)
    assert_problem(r, 422, field="$.alerts[0].startsAt")
    body = alertmanager_payload("firing")
    body["alerts"].append({"status": "firing", "labels": {"instance": "x"}, "startsAt": "now"})
    r = api.post("/api/v1/ingest/alertmanager", role="operator", json=body)
    assert_problem(r, 422, field="$.alerts[1].labels.alertname")
    r = api.post(
        "/api/v1/ingest/alertmanager",
        role="operator",
        content=b'{"version": "4",',
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 400)
    assert count(api, "alerts") == 0


def test_small_requests_waiting_together_are_stored_in_one_transaction(tmp_path):
    with running_api(tmp_path, api_settings(ingest_workers=1)) as api:
        from opsengine.api.controllers.ingest import store_logs
        from opsengine.api.ingest_formats import text_lines

        release = threading.Event()
        api.services.queue.submit(release.wait)  # hold the worker so the next two wait
        futures = [
            api.services.queue.submit_mergeable(
                "logs", lambda b: store_logs(api.services, b), (text_lines(body), "s", None)
            )
            for body in (b"a1\na2\n", b"b1\n")
        ]
        release.set()
        reports = [f.result(timeout=30) for f in futures]
        assert [(r.accepted, r.stored_with, r.events) for r in reports] == [
            (2, 1, None),
            (1, 1, None),
        ]
        ids = api.engine.query("SELECT raw FROM logs ORDER BY id").column(0).to_pylist()
        assert ids == ["a1", "a2", "b1"]
        assert datetime.now(UTC)  # the store is still usable after the merged write
