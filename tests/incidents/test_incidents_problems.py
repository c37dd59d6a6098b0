"""Problems and known errors, Alertmanager payloads, post-incident reviews and the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from opsengine.engine import Engine
from opsengine.incidents.alertmanager import AlertmanagerPayloadError, alertmanager_changes
from opsengine.problems import ProblemError
from opsengine.store.named_queries import run_query

from tests.support.incidents_helpers import alert, at


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "p.duckdb", admin_channel=False) as e:
        yield e


def shifted(table: pa.Table, days: int) -> pa.Table:
    """The same alert changes ``days`` later."""
    shift = pa.scalar(timedelta(days=days), pa.duration("us"))
    for col in ("ts", "active_since", "fired_at", "resolved_at"):
        i = table.column_names.index(col)
        moved = pc.add(table.column(col), shift).cast(table.schema.field(col).type)
        table = table.set_column(i, col, moved)
    return table


def test_recurring_incidents_propose_a_problem_and_later_ones_join_it(engine):
    def outage(days: int) -> None:
        for state, minute in (("firing", "03:00"), ("resolved", "03:10")):
            change = alert(minute, "oom_kill", state, "03:00", {"host": "app7"}, severity="high")
            engine.alerts.publish(shifted(change, days))

    for n in (0, 2, 5):  # three OOM incidents within 7 days
        outage(n)
    assert [i["id"] for i in engine.incidents.list()] == [3, 2, 1]
    [problem] = engine.problems.list_problems()
    assert (problem["state"], problem["incident_count"], problem["created_by"]) == (
        "proposed",
        3,
        "system",
    )
    assert problem["title"] == "Recurring: oom_kill — 3 incidents in 7 days"
    fp = engine.incidents.get(1)["fingerprint"]
    assert problem["fingerprint"] == fp
    engine.problems.update_problem(problem["id"], actor="ann", state="open",
                                   root_cause="heap too small for the nightly batch")  # fmt: skip
    outage(0)  # the same data again: instances already known, nothing new
    assert len(engine.incidents.list()) == 3
    outage(9)  # days 2, 5 and 9 are within 7 days again: it joins the open problem
    assert engine.problems.get_problem(problem["id"])["incidents"] == [1, 2, 3, 4]
    assert len(engine.problems.list_problems()) == 1
    # Linked to a second problem too, the trend still counts each incident's alerts once.
    other = engine.problems.create_problem("Nightly batch sizing", actor="ann", incident_ids=[1])
    [trend] = run_query(engine.store, "recurring_fingerprints", {"from": at("00:00")}).to_pylist()
    assert (trend["fingerprint"], trend["incidents"], trend["alerts"]) == (fp, 4, 4)
    assert trend["problem_id"] == max(problem["id"], other)
    with pytest.raises(ProblemError, match="cannot move from open back to proposed"):
        engine.problems.update_problem(problem["id"], actor="ann", state="proposed")
    with pytest.raises(ProblemError, match="problem 99: no such problem"):
        engine.problems.link_incident(99, 1, actor="ann")


def test_a_new_incident_matching_a_known_error_gets_the_article(engine, tmp_path):
    pid = engine.problems.create_problem("NFS stalls", actor="ann", workaround="remount")
    ke = engine.problems.create_known_error(
        "NFS server stall", symptoms="nfs: server not responding", actor="ann",
        workaround="umount -f; mount -a", rules=["nfs_timeout"], problem_id=pid,
    )  # fmt: skip
    engine.alerts.publish(alert("10:00", "nfs_timeout", "firing", "09:59", {"host": "hpc3"}))
    engine.alerts.publish(alert("10:00", "other", "firing", "09:59", {"host": "hpc9"}))
    assert engine.incidents.get(1)["known_error_id"] == ke
    assert engine.incidents.get(2)["known_error_id"] is None
    event = [e for e in engine.incidents.timeline(1) if e["kind"] == "known_error"]
    assert event[0]["detail"] == {"known_error_id": ke, "title": "NFS server stall"}
    with pytest.raises(ProblemError, match="at least one rule or fingerprint"):
        engine.problems.create_known_error("x", symptoms="y", actor="ann")
    assert len(engine.problems.list_known_errors()) == 1


AM_PAYLOAD = {
    "version": "4",
    "groupKey": '{}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "opsengine",
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "job": "api"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "job": "api",
                "instance": "api-1:9100",
                "severity": "warning",
            },
            "annotations": {"summary": "p99 latency above 2s"},
            "startsAt": "2026-03-02T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "c0ffee",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
            "annotations": {},
            "startsAt": "2026-03-02T09:00:00+01:00",
            "endsAt": "2026-03-02T09:30:00Z",
            "generatorURL": "",
            "fingerprint": "beef",
        },
    ],
}


def test_alertmanager_payloads_become_alerts_and_incidents(engine):
    table = alertmanager_changes(AM_PAYLOAD)
    rows = table.to_pylist()
    assert [(r["rule"], r["state"], r["severity"], r["source"]) for r in rows] == [
        ("HighLatency", "firing", "medium", "alertmanager"),
        ("DiskFull", "resolved", "critical", "alertmanager"),
    ]
    assert rows[0]["active_since"] == at("10:00") + timedelta(microseconds=123456)
    assert rows[1]["active_since"] == at("08:00") and rows[1]["resolved_at"] == at("09:30")
    engine.alerts.publish(table)
    [inc] = engine.incidents.list()
    assert (inc["rule"], inc["service"], inc["host"], inc["title"]) == (
        "HighLatency",
        "api",
        "api-1:9100",
        "p99 latency above 2s (api-1:9100)",
    )
    resolved = copy.deepcopy(AM_PAYLOAD)
    resolved["alerts"][0].update(status="resolved", endsAt="2026-03-02T10:20:00Z")
    engine.alerts.publish(alertmanager_changes(resolved))
    assert engine.incidents.get(inc["id"])["resolved_at"] == at("10:20")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.update(alerts={}), "alerts"),
        (lambda p: p["alerts"][1].update(status="pending"), "alerts[1].status"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alerts[0].labels.alertname"),
        (lambda p: p["alerts"][0]["labels"].update(job=3), "alerts[0].labels.job"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][1].update(endsAt="2026-03-02T07:00:00Z"), "alerts[1].endsAt"),
        (lambda p: p["alerts"][1].update(endsAt="0001-01-01T00:00:00Z"), "alerts[1].endsAt"),
    ],
)
def test_a_malformed_alertmanager_payload_names_the_field(change, field):
    payload = copy.deepcopy(AM_PAYLOAD)
    change(payload)
    with pytest.raises(AlertmanagerPayloadError) as err:
        alertmanager_changes(payload)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_a_post_incident_review_shows_what_happened_around_it(engine):
    engine.ingest_metrics(
        pa.table({
            "ts": pa.array([at("09:50"), at("10:00"), at("13:00")], pa.timestamp("us", tz="UTC")),
            "host": ["web1", "web1", "web1"],
            "name": ["cpu", "cpu", "cpu"],
            "labels": pa.array([[], [], []], pa.map_(pa.string(), pa.string())),
            "value": [0.5, 0.99, 0.1],
        })
    )  # fmt: skip
    engine.ingest_logs(
        [
            "<34>1 2026-03-02T09:58:00Z web1 kernel - - - Out of memory: Killed process 12 (java)",
            "<34>1 2026-03-02T09:58:00Z db1 kernel - - - Out of memory: Killed process 13 (pg)",
        ]
    )
    engine.alerts.publish(alert("10:00", "cpu_high", "firing", "09:55", {"host": "web1"},
                                severity="critical"))  # fmt: skip
    engine.incidents.acknowledge(1, actor="ann", at=at("10:05"))
    engine.incidents.resolve(1, actor="ann", at=at("10:30"))
    review = engine.incidents.review(1)
    assert review["durations"] == {
        "to_detect_s": 300.0, "to_acknowledge_s": 300.0, "to_resolve_s": 1800.0
    }  # fmt: skip
    assert [(m["name"], m["samples"], m["max"]) for m in review["metrics"]] == [("cpu", 2, 0.99)]
    assert [(e["rule"], e["events"]) for e in review["log_events"]] == [("kernel_oom_killer", 1)]
    assert review["log_samples"][0]["message"].startswith("Out of memory: Killed process 12")
    assert "new_log_templates" in review  # the table exists (migration 2); none were new
    from opsengine.incidents.review import render_markdown

    text = render_markdown(review)
    assert "time to detect 5m, to acknowledge 5m, to resolve 30m" in text
    assert "- cpu: 2 samples, min 0.5, avg 0.745, max 0.99" in text
    assert "- 09:58:00 kernel_oom_killer: Out of memory: Killed process 12 (java)" in text


def cli(*args: str, db) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opsengine.cli", *args, "--db", str(db), "--as", "ann"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_cli_acts_on_incidents_and_exits_2_on_bad_input(tmp_path):
    db = tmp_path / "cli.duckdb"
    made = cli("incidents", "create", "Checkout down", "--impact", "high", "--urgency", "high",
               "--service", "shop", "--category", "availability", db=db)  # fmt: skip
    assert (made.returncode, made.stdout) == (0, "incident 1 opened\n")
    nolabel = cli("incidents", "create", "Disk full", "--label", "host:db1", db=db)
    assert nolabel.returncode == 2
    assert nolabel.stderr == "error: --label 'host:db1': expected NAME=VALUE\n"
    bad = cli("incidents", "close", "1", db=db)
    assert bad.returncode == 2
    assert (
        bad.stderr == "error: incident 1: cannot move from triggered to closed (resolve it first)\n"
    )
    assert cli("incidents", "ack", "7", db=db).stderr == "error: incident 7: no such incident\n"
    assert cli("incidents", "resolve", "1", "--note", "rolled back", db=db).returncode == 0
    shown = cli("incidents", "show", "1", "--json", db=db)
    data = json.loads(shown.stdout)
    assert (data["state"], data["priority"], data["category"]) == ("resolved", "P1", "outage")
    assert data["timeline"][-1]["detail"]["note"] == "rolled back"
    assert cli("policies", "set", "p", "--level", "pager:x", db=db).returncode == 2
    ok = cli("schedules", "set", "ops", "--members", "ann", "ben", "--start-date", "2026-03-01",
             "--rotation", "daily", db=db)  # fmt: skip
    assert ok.returncode == 0
    who = cli("oncall", "ops", "--at", "2026-03-02T12:00:00Z", "--json", db=db)
    assert json.loads(who.stdout) == [{"schedule": "ops", "on_call": "ben"}]
    ke = cli(
        "known-errors", "add", "Cache stampede", "--symptoms", "5xx burst", "--rule", "x", db=db
    )
    assert ke.returncode == 0
    mttr = subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "query", "mttr", "--db", str(db), "-f", "json",
         "-p", "from=2000-01-01"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert mttr.returncode == 0, mttr.stderr
    assert json.loads(mttr.stdout)[0]["incidents"] == 1
