"""The named-query registry and the shipped queries, each run on a small real DuckDB file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from opsengine.store import Store
from opsengine.store.named_queries import (
    QueryError,
    QueryFileError,
    load_queries,
    parse_query_file,
    run_query,
)
from opsengine.store.param_values import convert_param_value

from tests.support.history_rows import insert_events, make_history_db, t


@pytest.fixture
def store(tmp_path):
    with Store(make_history_db(tmp_path / "ops.duckdb"), read_only=True) as s:
        yield s


def rows(table):
    return [tuple(r.values()) for r in table.to_pylist()]


# -- the shipped queries ---------------------------------------------------
def test_the_shipped_queries_are_listed_with_their_parameters():
    queries = load_queries()
    # Later domains add their own (KPIs, uptime, templates); these five are the store's.
    assert list(queries) == sorted(queries)
    assert {"error_rate", "host_events", "log_volume", "new_rules_today", "top_rules"} <= set(
        queries
    )
    assert all(q.description for q in queries.values())
    top = queries["top_rules"]
    assert [(p.name, p.type, p.default) for p in top.params] == [
        ("from", "TIMESTAMPTZ", "now() - INTERVAL 7 DAY"),
        ("to", "TIMESTAMPTZ", "now()"),
        ("limit", "INTEGER", "20"),
    ]
    assert top.params[0].help == "start of the range (inclusive)"
    assert queries["host_events"].param("host").default is None


def test_log_volume_counts_lines_by_bucket_source_and_level(store):
    table = run_query(
        store, "log_volume", {"from": "2024-05-10", "to": "2024-05-11", "bucket": "30m"}
    )
    assert table.column_names == ["bucket_start", "source", "level", "lines"]
    assert rows(table) == [
        (t("2024-05-10 10:00:00"), "nginx", "info", 1),
        (t("2024-05-10 10:00:00"), "syslog", "critical", 1),
        (t("2024-05-10 10:00:00"), "syslog", "error", 1),
        (t("2024-05-10 10:00:00"), "syslog", "info", 1),
        # the line without a header time counts at its ingestion time, 10:59:59
        (t("2024-05-10 10:30:00"), "nginx", "error", 1),
        (t("2024-05-10 10:30:00"), "nginx", "warning", 1),
        (t("2024-05-10 11:00:00"), "syslog", "info", 1),
    ]


def test_log_volume_buckets_by_the_hour_by_default(store):
    table = run_query(store, "log_volume", {"from": "2024-05-09", "to": "2024-05-11"})
    per_bucket: dict[datetime, int] = {}
    for bucket, _source, _level, lines in rows(table):
        per_bucket[bucket] = per_bucket.get(bucket, 0) + lines
    assert per_bucket == {
        t("2024-05-09 23:00:00"): 1,
        t("2024-05-10 10:00:00"): 6,
        t("2024-05-10 11:00:00"): 1,
    }


def test_top_rules_orders_by_count_and_keeps_first_and_last_seen(store):
    table = run_query(store, "top_rules", {"from": "2024-05-03", "to": "2024-05-11"})
    assert table.column_names == [
        "rule", "severity", "category", "events", "hosts", "first_seen", "last_seen"
    ]  # fmt: skip
    assert rows(table) == [
        ("ssh_fail", "high", "security", 3, 2, t("2024-05-03 08:00:00"), t("2024-05-10 10:20:00")),
        (
            "disk_full", "critical", "availability", 2, 1,
            t("2024-05-10 10:00:05"), t("2024-05-10 12:00:00"),
        ),
        ("nginx_5xx", "medium", "error", 1, 1, t("2024-05-10 23:59:59"), t("2024-05-10 23:59:59")),
    ]  # fmt: skip
    limited = run_query(
        store, "top_rules", {"from": "2024-05-03", "to": "2024-05-11", "limit": "2"}
    )
    assert [r[0] for r in rows(limited)] == ["ssh_fail", "disk_full"]


def test_host_events_lists_one_hosts_events_newest_first_with_the_message(store):
    table = run_query(
        store, "host_events", {"host": "h1", "from": "2024-05-10", "to": "2024-05-11", "limit": "2"}
    )
    assert table.column_names == [
        "ts", "rule", "severity", "category", "source", "fields", "log_id", "message"
    ]  # fmt: skip
    assert table.to_pylist() == [
        {
            "ts": t("2024-05-10 12:00:00"), "rule": "disk_full", "severity": "critical",
            "category": "availability", "source": "syslog", "fields": [], "log_id": 6,
            "message": "disk ok",
        },
        {
            "ts": t("2024-05-10 10:00:05"), "rule": "disk_full", "severity": "critical",
            "category": "availability", "source": "syslog", "fields": [], "log_id": 1,
            "message": "disk full",
        },
    ]  # fmt: skip
    everything = run_query(
        store, "host_events", {"host": "h1", "from": "2024-05-10", "to": "2024-05-11"}
    )
    assert [(r["rule"], r["fields"]) for r in everything.to_pylist()] == [
        ("disk_full", []),
        ("disk_full", []),
        ("ssh_fail", [("user", "root")]),
    ]


def test_host_events_binds_the_host_as_a_value_never_as_sql(store):
    hostile = "h1' OR '1'='1"
    table = run_query(store, "host_events", {"host": hostile, "from": "2024-01-01", "to": "now"})
    assert table.num_rows == 0
    assert store.conn.sql("SELECT count(*) AS n FROM events").fetchall() == [(8,)]


def test_error_rate_per_source_and_minute(store):
    table = run_query(
        store, "error_rate", {"from": "2024-05-10T10:00:00Z", "to": "2024-05-10T11:00:00Z"}
    )
    assert table.column_names == ["minute", "source", "lines", "error_lines", "error_ratio"]
    assert rows(table) == [
        (t("2024-05-10 10:00:00"), "nginx", 1, 0, 0.0),
        (t("2024-05-10 10:00:00"), "syslog", 2, 1, 0.5),
        (t("2024-05-10 10:01:00"), "syslog", 1, 1, 1.0),
        (t("2024-05-10 10:30:00"), "nginx", 1, 0, 0.0),
        (t("2024-05-10 10:59:00"), "nginx", 1, 1, 1.0),
    ]


def test_new_rules_today_ignores_rules_seen_in_the_seven_days_before(store):
    table = run_query(store, "new_rules_today", {"day": "2024-05-10"})
    assert table.column_names == ["rule", "severity", "category", "events", "first_seen"]
    # ssh_fail fired on 05-03 (inside the week before); disk_full last fired on 05-02 (outside);
    # nginx_5xx's 05-11 00:00:00 event belongs to the next day.
    assert rows(table) == [
        ("disk_full", "critical", "availability", 2, t("2024-05-10 10:00:05")),
        ("nginx_5xx", "medium", "error", 1, t("2024-05-10 23:59:59")),
    ]


def test_new_rules_today_defaults_to_the_current_utc_day(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    with Store(tmp_path / "today.duckdb") as store:
        insert_events(
            store,
            [
                (now, "h1", "syslog", "brand_new", "low", "config", {}, 1),
                (now, "h1", "syslog", "old_friend", "low", "config", {}, 2),
                (now - timedelta(days=2), "h1", "syslog", "old_friend", "low", "config", {}, 3),
            ],
        )
        table = run_query(store, "new_rules_today", {})
    assert [(r["rule"], r["events"]) for r in table.to_pylist()] == [("brand_new", 1)]


# -- parameters --------------------------------------------------------------
def test_parameter_errors_name_the_query_and_parameter(store):
    with pytest.raises(
        QueryError, match=r"query top_rules: parameter 'limit': invalid INTEGER 'ten'"
    ):
        run_query(store, "top_rules", {"limit": "ten"})
    with pytest.raises(QueryError, match=r"query top_rules: unknown parameter 'host'"):
        run_query(store, "top_rules", {"host": "h1"})
    with pytest.raises(QueryError, match=r"query host_events: parameter 'host' is required"):
        run_query(store, "host_events", {})
    with pytest.raises(QueryError, match=r"parameter 'from': invalid TIMESTAMPTZ 'last tuesday'"):
        run_query(store, "top_rules", {"from": "last tuesday"})
    with pytest.raises(QueryError, match=r"no named query 'nope'"):
        run_query(store, "nope", {})


def test_parameter_values_convert_from_what_operators_type():
    now = datetime(2024, 5, 10, 12, 30, tzinfo=UTC)
    convert = convert_param_value
    assert convert("TIMESTAMPTZ", "-7d", now=now) == datetime(2024, 5, 3, 12, 30, tzinfo=UTC)
    assert convert("TIMESTAMPTZ", "-1h30m", now=now) == datetime(2024, 5, 10, 11, 0, tzinfo=UTC)
    assert convert("TIMESTAMPTZ", "now", now=now) == now
    assert convert("TIMESTAMPTZ", "today", now=now) == datetime(2024, 5, 10, tzinfo=UTC)
    assert convert("TIMESTAMPTZ", "2024-05-01", now=now) == datetime(2024, 5, 1, tzinfo=UTC)
    assert convert("TIMESTAMPTZ", "2024-05-01T10:00:00+02:00", now=now) == datetime(
        2024, 5, 1, 8, 0, tzinfo=UTC
    )
    assert convert("DATE", "-7d", now=now) == date(2024, 5, 3)
    assert convert("DATE", "yesterday", now=now) == date(2024, 5, 9)
    assert convert("INTERVAL", "15m") == timedelta(minutes=15)
    assert convert("INTERVAL", "2 hours") == timedelta(hours=2)
    assert convert("INTEGER", "42") == 42
    assert convert("BOOLEAN", "yes") is True
    assert convert("DOUBLE", "0.5") == 0.5
    assert convert("VARCHAR", "a;b") == "a;b"
    with pytest.raises(ValueError, match="out of range for INTEGER"):
        convert("INTEGER", str(2**31))
    with pytest.raises(ValueError, match="invalid INTERVAL"):
        convert("INTERVAL", "soon")


# -- query files -------------------------------------------------------------
def write(tmp_path, text, name="q.sql"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_extra_query_folders_add_queries(tmp_path, store):
    folder = tmp_path / "more"
    folder.mkdir()
    write(
        folder,
        "-- name: busiest_host\n-- description: the host with most lines\n"
        "-- param: min_lines BIGINT = 1 -- at least this many\n"
        "SELECT host, count(*) AS n FROM logs GROUP BY host HAVING count(*) >= $min_lines "
        "ORDER BY n DESC, host LIMIT 1;\n",
        "busiest.sql",
    )
    queries = load_queries([folder])
    assert "busiest_host" in queries and "top_rules" in queries
    table = run_query(store, "busiest_host", {}, queries=queries)
    assert table.to_pylist() == [{"host": "h1", "n": 5}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1", r"q\.sql:1: the header has no '-- name: …' line"),
        ("-- name: x\n-- parm: a INTEGER\nSELECT 1", r"q\.sql:2: unknown header key 'parm'"),
        ("-- name: x\n-- param: a NUMBER\nSELECT $a", r"q\.sql:2: param 'a': type 'NUMBER' is not"),
        ("-- name: x\n-- param: a INTEGER\nSELECT 1", r"q\.sql:2: param 'a' is declared but"),
        ("-- name: x\n\nSELECT $b", r"q\.sql:3: the SQL uses \$b without a '-- param:' line"),
        ("-- name: x\n-- param: a INTEGER = nope(\nSELECT $a", r"q\.sql:2: default of parameter 'a'"),
        ("-- name: x\nDELETE FROM logs", r"q\.sql:2: a named query must be exactly one SELECT"),
        ("-- name: Bad Name\nSELECT 1", r"q\.sql:1: query name 'Bad Name' must be"),
        ("-- name: x\n-- param: a INTEGER\n-- param: a INTEGER\nSELECT $a", r"q\.sql:3: param 'a' is declared twice"),
    ],
)  # fmt: skip
def test_header_errors_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(QueryFileError, match=message):
        parse_query_file(write(tmp_path, text))


def test_a_name_defined_twice_names_both_files(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    write(folder, "-- name: top_rules\nSELECT 1", "mine.sql")
    with pytest.raises(
        QueryFileError,
        match=r"mine\.sql:1: query name 'top_rules' is already defined in .*top_rules\.sql",
    ):
        load_queries([folder])
