"""``opsengine query`` as a user runs it: a real process over a real DuckDB file."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.support.history_rows import make_history_db, run_cli


@pytest.fixture
def db(tmp_path):
    return make_history_db(tmp_path / "ops.duckdb")


def test_query_list_shows_names_descriptions_and_parameters(tmp_path):
    done = run_cli("query", "--list", home=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("error_rate", "host_events", "log_volume", "new_rules_today", "top_rules"):
        assert f"\n{name}  " in "\n" + done.stdout
    assert "    host VARCHAR (required)  the host name as stored in events.host" in done.stdout
    assert "    bucket INTERVAL = INTERVAL 1 HOUR" in done.stdout


def test_query_prints_an_aligned_table(tmp_path, db):
    done = run_cli(
        "query", "top_rules", "--db", str(db), "--param", "from=2024-05-03",
        "--param", "to=2024-05-11", "--param", "limit=2", home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "rule       severity  category      events  hosts  first_seen                 last_seen",
        "---------  --------  ------------  ------  -----  -------------------------  -------------------------",
        "ssh_fail   high      security           3      2  2024-05-03 08:00:00+00:00  2024-05-10 10:20:00+00:00",
        "disk_full  critical  availability       2      1  2024-05-10 10:00:05+00:00  2024-05-10 12:00:00+00:00",
        "(2 rows)",
    ]


def test_query_json_and_csv(tmp_path, db):
    args = ("query", "host_events", "--db", str(db), "-p", "host=h2", "-p", "from=2024-05-10")
    as_json = run_cli(*args, "-p", "to=2024-05-12", "--format", "json", home=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {
            "ts": "2024-05-11T00:00:00+00:00", "rule": "nginx_5xx", "severity": "medium",
            "category": "error", "source": "nginx", "fields": {"code": "503"}, "log_id": 5,
            "message": "slow",
        },
        {
            "ts": "2024-05-10T23:59:59+00:00", "rule": "nginx_5xx", "severity": "medium",
            "category": "error", "source": "nginx", "fields": {"code": "502"}, "log_id": 5,
            "message": "slow",
        },
        {
            "ts": "2024-05-10T10:20:00+00:00", "rule": "ssh_fail", "severity": "high",
            "category": "security", "source": "nginx", "fields": {"user": "adm"}, "log_id": 4,
            "message": "GET /",
        },
    ]  # fmt: skip
    as_csv = run_cli(*args, "-p", "to=2024-05-11", "--format", "csv", home=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["ts", "rule", "severity", "category", "source", "fields", "log_id", "message"],
        ["2024-05-10 23:59:59+00:00", "nginx_5xx", "medium", "error", "nginx", '{"code": "502"}', "5", "slow"],
        ["2024-05-10 10:20:00+00:00", "ssh_fail", "high", "security", "nginx", '{"user": "adm"}', "4", "GET /"],
    ]  # fmt: skip


def test_query_writes_parquet_to_a_file(tmp_path, db):
    out = tmp_path / "volume.parquet"
    done = run_cli(
        "query", "log_volume", "--db", str(db), "-p", "from=2024-05-10", "-p", "to=2024-05-11",
        "--format", "parquet", "--out", str(out), home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.column_names == ["bucket_start", "source", "level", "lines"]
    assert sum(table.column("lines").to_pylist()) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("query", "nope"), "no named query 'nope'"),
        (("query", "top_rules", "-p", "limit=ten"), "parameter 'limit': invalid INTEGER 'ten'"),
        (("query", "top_rules", "-p", "limit"), "--param 'limit': expected NAME=VALUE"),
        (("query", "top_rules", "-p", "colour=red"), "unknown parameter 'colour'"),
        (("query", "host_events"), "parameter 'host' is required"),
        (("query", "top_rules", "--format", "parquet"), "--format parquet needs --out FILE"),
        (("query",), "give a query NAME, or --list"),
    ],
)
def test_bad_input_exits_2_and_names_the_place(tmp_path, db, args, message):
    done = run_cli(*args, "--db", str(db), home=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_a_missing_database_is_bad_input(tmp_path):
    done = run_cli("query", "top_rules", "--db", str(tmp_path / "none.duckdb"), home=tmp_path)
    assert done.returncode == 2
    assert "none.duckdb: no such database file" in done.stderr


def test_the_default_database_is_in_the_working_directory(tmp_path):
    make_history_db(tmp_path / "opsengine.duckdb")
    done = run_cli(
        "query", "top_rules", "-p", "from=2024-05-01", "-p", "to=2024-06-01", "-f", "json",
        home=tmp_path, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["rule"] for r in json.loads(done.stdout)] == ["disk_full", "ssh_fail", "nginx_5xx"]
