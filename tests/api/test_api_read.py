"""Reading through the API: log and event search with paging, alerts, named queries, rules, SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from opsengine.alerts import AlertChange, changes_table

from tests.support.api_helpers import api_settings, assert_problem, running_api

LINES = [
    "Jun 14 15:16:01 web1 sshd(pam_unix)[1]: authentication failure; logname= uid=0 euid=0 "
    "tty=NODEVssh ruser= rhost=10.0.0.1",
    "Jun 14 15:16:02 web1 sshd(pam_unix)[2]: authentication failure; logname= uid=0 euid=0 "
    "tty=NODEVssh ruser= rhost=10.0.0.2",
    "Jun 14 15:17:00 web2 kernel: Out of memory: Killed process 42 (java)",
    "Jun 14 15:18:00 web2 cron[7]: job finished",
    "Jun 14 15:19:00 db1 postgres[9]: checkpoint complete",
]


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path, api_settings(sql_row_limit=3)) as api:
        api.engine.ingest_logs(pa.array(LINES), source="syslog")
        yield api


def test_log_search_filters_by_host_text_and_time(api):
    assert [
        x["host"] for x in api.get("/api/v1/logs?host=web2", role="viewer").json()["items"]
    ] == [
        "web2",
        "web2",
    ]
    found = api.get("/api/v1/logs?text=OUT OF MEMORY", role="viewer").json()["items"]
    assert [x["app"] for x in found] == ["kernel"]
    # RFC 3164 lines carry no year: take the times the store gave them, then query between
    stamps = {x["message"]: x["ts"] for x in api.get("/api/v1/logs", role="viewer").json()["items"]}
    start, end = stamps["Out of memory: Killed process 42 (java)"], stamps["checkpoint complete"]
    timed = api.get(f"/api/v1/logs?from={start}&to={end}", role="viewer").json()["items"]
    assert sorted(x["message"] for x in timed) == [
        "Out of memory: Killed process 42 (java)",
        "job finished",
    ]
    assert api.get("/api/v1/logs?source=nothing", role="viewer").json() == {
        "items": [],
        "next_cursor": None,
    }


def test_log_search_pages_with_a_cursor_newest_first(api):
    seen, cursor = [], None
    for _ in range(10):
        url = "/api/v1/logs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url, role="viewer").json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == len(LINES)
    # new lines arriving between pages do not shift what the cursor points at
    first = api.get("/api/v1/logs?limit=2", role="viewer").json()
    api.engine.ingest_logs(pa.array(["a newer line"]), source="syslog")
    second = api.get(f"/api/v1/logs?limit=2&cursor={first['next_cursor']}", role="viewer").json()
    assert [x["id"] for x in second["items"]] == seen[2:4]


def test_bad_search_parameters_are_422_naming_the_parameter(api):
    assert_problem(api.get("/api/v1/logs?cursor=garbage", role="viewer"), 422, field="query:cursor")
    assert_problem(
        api.get("/api/v1/logs?from=yesterdayish", role="viewer"), 422, field="query:from"
    )
    assert_problem(api.get("/api/v1/logs?limit=0", role="viewer"), 422, field="query:limit")
    assert_problem(api.get("/api/v1/logs/999999", role="viewer"), 404)
    one = api.get("/api/v1/logs?limit=1", role="viewer").json()["items"][0]
    assert api.get(f"/api/v1/logs/{one['id']}", role="viewer").json()["raw"] == one["raw"]


def test_events_are_listed_filtered_and_paged(api):
    first = api.get("/api/v1/events?rule=pam_authentication_failure&limit=1", role="viewer").json()
    assert [e["fields"]["rhost"] for e in first["items"]] == ["10.0.0.2"]
    rest = api.get(
        f"/api/v1/events?rule=pam_authentication_failure&cursor={first['next_cursor']}",
        role="viewer",
    ).json()
    assert [e["fields"]["rhost"] for e in rest["items"]] == ["10.0.0.1"]
    assert rest["next_cursor"] is None
    by_host = api.get("/api/v1/events?host=web2", role="viewer").json()["items"]
    assert by_host and {e["host"] for e in by_host} == {"web2"}


def test_alerts_are_listed_by_state_and_read_by_fingerprint(api):
    t0 = datetime(2024, 5, 10, 10, tzinfo=UTC)
    api.engine.alerts.publish(
        changes_table(
            [
                AlertChange(t0, "HighLoad", "firing", t0, labels={"host": "a"}, fired_at=t0),
                AlertChange(
                    t0 + timedelta(minutes=1), "HighLoad", "resolved", t0 - timedelta(hours=1),
                    labels={"host": "b"}, resolved_at=t0 + timedelta(minutes=1),
                ),
            ]
        )
    )  # fmt: skip
    firing = api.get("/api/v1/alerts?state=firing", role="viewer").json()["items"]
    assert [(a["rule"], a["labels"]) for a in firing] == [("HighLoad", {"host": "a"})]
    everything = api.get("/api/v1/alerts?limit=1", role="viewer").json()
    assert everything["items"][0]["state"] == "resolved"  # most recently changed first
    rest = api.get(f"/api/v1/alerts?limit=1&cursor={everything['next_cursor']}", role="viewer")
    assert [a["state"] for a in rest.json()["items"]] == ["firing"]
    one = api.get(f"/api/v1/alerts/{firing[0]['fingerprint']}", role="viewer").json()
    assert [a["state"] for a in one] == ["firing"]
    assert_problem(api.get("/api/v1/alerts/0000000000000000", role="viewer"), 404)
    assert_problem(api.get("/api/v1/alerts?state=burning", role="viewer"), 422, field="query:state")


def test_named_queries_are_listed_described_and_run_with_parameters(api):
    listed = {q["name"]: q for q in api.get("/api/v1/queries", role="viewer").json()}
    assert "top_rules" in listed
    assert {p["name"] for p in listed["top_rules"]["params"]} >= {"limit"}
    assert api.get("/api/v1/queries/top_rules", role="viewer").json()["name"] == "top_rules"
    r = api.get("/api/v1/queries/top_rules/rows?from=2000-01-01&limit=1", role="viewer")
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["rows"]) == 1 and body["truncated"] is False
    assert_problem(api.get("/api/v1/queries/nope", role="viewer"), 404)
    assert_problem(api.get("/api/v1/queries/nope/rows", role="viewer"), 404)
    r = api.get("/api/v1/queries/top_rules/rows?colour=red", role="viewer")
    assert "unknown parameter 'colour'" in assert_problem(r, 422)["detail"]
    r = api.get("/api/v1/queries/top_rules/rows?limit=many", role="viewer")
    assert_problem(r, 422)


def test_rules_are_listed_validated_and_reloaded(api):
    rules = api.get("/api/v1/rules", role="viewer").json()
    assert len(rules) == len(api.engine.rules) > 10
    one = api.get("/api/v1/rules/pam_authentication_failure", role="viewer").json()
    assert one["kind"] == "log" and one["category"] == "security"
    assert_problem(api.get("/api/v1/rules/no_such_rule", role="viewer"), 404)

    good = b"- name: disk_full\n  kind: log\n  severity: high\n  category: availability\n  summary: Disk full\n  pattern: 'No space left'\n"
    yaml = {"content-type": "application/yaml"}
    r = api.post("/api/v1/rules/validate", role="viewer", content=good, headers=yaml)
    assert r.status_code == 200 and r.json()["rules"] == ["disk_full"]
    bad = good.replace(b"severity: high", b"severity: huge")
    problem = assert_problem(
        api.post("/api/v1/rules/validate", role="viewer", content=bad, headers=yaml), 422
    )
    assert "disk_full" in problem["detail"] and problem["errors"][0]["field"].startswith(
        "body:line"
    )
    bad_regex = good.replace(b"'No space left'", b"'(unclosed'")
    assert_problem(
        api.post("/api/v1/rules/validate", role="viewer", content=bad_regex, headers=yaml), 422
    )
    assert_problem(
        api.post(
            "/api/v1/rules/validate", role="viewer", content=good,
            headers={"content-type": "application/json"},
        ),
        415,
    )  # fmt: skip

    r = api.post("/api/v1/rules/reload", role="admin")
    assert r.status_code == 200 and r.json()["rules"] == r.json()["previous"] == len(rules)


def test_admin_sql_reads_but_never_writes(api):
    r = api.post(
        "/api/v1/sql",
        json={"sql": "SELECT host, count(*) AS n FROM logs GROUP BY host ORDER BY host"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["host", "n"]
    assert body["rows"] == [
        {"host": "db1", "n": 1},
        {"host": "web1", "n": 2},
        {"host": "web2", "n": 2},
    ]
    r = api.post(
        "/api/v1/sql", json={"sql": "SELECT raw FROM logs WHERE host = ?", "params": ["db1"]}
    )
    assert [x["raw"] for x in r.json()["rows"]] == [LINES[4]]
    truncated = api.post("/api/v1/sql", json={"sql": "SELECT * FROM range(10)"}).json()
    assert (len(truncated["rows"]), truncated["truncated"], truncated["row_limit"]) == (3, True, 3)

    for write in ("DELETE FROM logs", "DROP TABLE logs", "SELECT 1; DELETE FROM logs"):
        r = api.post("/api/v1/sql", json={"sql": write})
        assert "refused" in assert_problem(r, 422)["detail"]
    assert api.engine.query("SELECT count(*) FROM logs").column(0)[0].as_py() == len(LINES)
    assert_problem(api.post("/api/v1/sql", json={"sql": "SELECT nope FROM logs"}), 422)
    assert_problem(api.post("/api/v1/sql", json={"query": "SELECT 1"}), 422, field="$.query")


def test_metric_search_lists_names_and_buckets_one_metric_per_series(api):
    t0 = datetime(2024, 5, 10, 10, tzinfo=UTC)
    samples = [  # cpu on two hosts every 30 s for 4 minutes, and one disk sample
        (t0 + timedelta(seconds=30 * i), host, "cpu", [("core", "0")], float(i))
        for i in range(8)
        for host in ("db1", "web1")
    ] + [(t0, "db1", "disk_free", [], 5.0)]
    ts, host, name, labels, value = zip(*samples, strict=True)
    api.engine.ingest_metrics(
        pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "host": list(host),
                "name": list(name),
                "labels": pa.array(list(labels), pa.map_(pa.string(), pa.string())),
                "value": list(value),
            }
        )
    )
    window = "from=2024-05-10T10:00:00Z&to=2024-05-10T10:04:00Z"
    names = api.get(f"/api/v1/metrics/names?{window}", role="viewer").json()
    assert [(n["name"], n["samples"], n["hosts"]) for n in names] == [
        ("cpu", 16, 2),
        ("disk_free", 1, 1),
    ]
    r = api.get(f"/api/v1/metrics/series?name=cpu&host=db1&step=2m&{window}", role="viewer")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(s["host"], s["labels"]) for s in body["series"]] == [("db1", {"core": "0"})]
    points = body["series"][0]["points"]
    assert [(p["t"], p["count"], p["min"], p["max"], p["last"]) for p in points] == [
        ("2024-05-10T10:00:00Z", 4, 0.0, 3.0, 3.0),
        ("2024-05-10T10:02:00Z", 4, 4.0, 7.0, 7.0),
    ]
    both = api.get(f"/api/v1/metrics/series?name=cpu&{window}", role="viewer").json()
    assert [s["host"] for s in both["series"]] == ["db1", "web1"] and both["step_seconds"] == 2.0
    assert_problem(
        api.get(f"/api/v1/metrics/series?name=cpu&step=1ms&{window}", role="viewer"),
        422,
        field="query:step",
    )
    assert_problem(api.get("/api/v1/metrics/series", role="viewer"), 422, field="query:name")
    assert_problem(api.get("/api/v1/metrics/series?name=cpu&from=now&to=-1h", role="viewer"), 422)


def test_admin_sql_cannot_read_the_servers_files(api, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT count(*) FROM logs WHERE raw IN (SELECT file FROM glob('{tmp_path}/*'))",
        f"EXPLAIN ANALYZE SELECT * FROM read_blob('{secret}')",
        f"WITH x AS (SELECT * FROM read_csv('{secret}')) SELECT * FROM x",
    ):
        r = api.post("/api/v1/sql", json={"sql": sql})
        assert "hunter2" not in r.text
        detail = assert_problem(r, 422)["detail"]
        assert "reads files or the network" in detail or "not a table of the store" in detail
    allowed = (
        "WITH recent AS (SELECT * FROM logs) SELECT count(*) AS n FROM recent",
        "SELECT count(*) AS n FROM information_schema.tables",
        "SELECT count(*) AS n FROM range(5)",
        "SELECT count(*) AS n FROM duckdb_tables()",
    )
    for sql in allowed:
        r = api.post("/api/v1/sql", json={"sql": sql})
        assert r.status_code == 200, (sql, r.text)
