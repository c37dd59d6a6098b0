"""``opsengine export``: history as date-partitioned Parquet that DuckDB reads back."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from opsengine.store import Store

from tests.support.history_rows import insert_logs, make_history_db, run_cli, t


@pytest.fixture
def db(tmp_path):
    return make_history_db(tmp_path / "ops.duckdb")


def read_back(folder, table, columns="count(*) AS n") -> list[tuple]:
    return duckdb.sql(
        f"SELECT date, {columns} FROM read_parquet('{folder}/{table}/*/*.parquet', "
        "hive_partitioning = true) GROUP BY date ORDER BY date"
    ).fetchall()


def partitions(folder, table) -> list[str]:
    return sorted(p.name for p in (folder / table).iterdir())


def test_export_writes_one_partition_per_table_and_day(tmp_path, db):
    out = tmp_path / "lake"
    done = run_cli("export", "--to", str(out), "--db", str(db), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "logs: 8 rows in 2 date partition(s) (2024-05-09 … 2024-05-10)" in done.stdout
    assert partitions(out, "logs") == ["date=2024-05-09", "date=2024-05-10"]
    assert partitions(out, "events") == [
        "date=2024-05-02", "date=2024-05-03", "date=2024-05-10", "date=2024-05-11"
    ]  # fmt: skip
    assert partitions(out, "metrics") == ["date=2024-05-09", "date=2024-05-10"]
    day = date(2024, 5, 10)
    assert read_back(out, "logs") == [(date(2024, 5, 9), 1), (day, 7)]
    # every column survives, the line without a header time sits on its ingestion day
    logs = duckdb.sql(
        f"SELECT id, ts, message, date FROM read_parquet('{out}/logs/*/*.parquet', "
        "hive_partitioning = true) WHERE id = 7"
    ).fetchall()
    assert logs == [(7, None, "upstream gone", day)]
    events = duckdb.sql(
        f"SELECT rule, fields FROM read_parquet('{out}/events/*/*.parquet', "
        "hive_partitioning = true) WHERE date = DATE '2024-05-11'"
    ).fetchall()
    assert events == [("nginx_5xx", {"code": "503"})]
    assert not [p for p in out.iterdir() if p.name.startswith(".export-")]  # staging removed


def test_re_export_replaces_the_days_it_writes_and_keeps_the_others(tmp_path, db):
    out = tmp_path / "lake"
    assert run_cli("export", "--to", str(out), "--db", str(db), home=tmp_path).returncode == 0
    with Store(db) as store:
        insert_logs(
            store,
            [
                (9, t("2024-05-10 18:00:00"), t("2024-05-10 18:00:01"), "h3", "app", "info", "new"),
                (10, t("2024-05-11 09:00:00"), t("2024-05-11 09:00:01"), "h3", "app", "info", "x"),
            ],
        )
        with store.transaction() as cur:  # 05-09 (line 8) is gone from the store
            store.history.expire_days(cur, "logs", t("2024-05-10 00:00:00"))
    again = run_cli(
        "export", "--to", str(out), "--db", str(db), "--tables", "logs",
        "--since", "2024-05-10", home=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "logs: 9 rows in 2 date partition(s) (2024-05-10 … 2024-05-11)" in again.stdout
    counts = {str(d): n for d, n in read_back(out, "logs")}
    # 05-09 was outside --since, so the earlier export of it stays; 05-10 is replaced, not doubled
    assert counts == {"2024-05-09": 1, "2024-05-10": 8, "2024-05-11": 1}
    assert partitions(out, "events") == [
        "date=2024-05-02", "date=2024-05-03", "date=2024-05-10", "date=2024-05-11"
    ]  # fmt: skip


def test_since_accepts_a_relative_day(tmp_path, db):
    out = tmp_path / "recent"
    done = run_cli("export", "--to", str(out), "--db", str(db), "--since", "-1d", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "logs: 0 rows in 0 date partition(s)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tables", "logs,secrets"), "--tables 'logs,secrets': unknown secrets"),
        (("--since", "last week"), "--since: invalid DATE 'last week'"),
    ],
)
def test_bad_export_input_exits_2(tmp_path, db, args, message):
    done = run_cli("export", "--to", str(tmp_path / "x"), "--db", str(db), *args, home=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_export_needs_a_target(tmp_path, db):
    done = run_cli("export", "--db", str(db), home=tmp_path)
    assert done.returncode == 2
    assert "--to" in done.stderr


def test_the_cli_names_match_the_store():
    from opsengine.cli import common, export
    from opsengine.store import DEFAULT_DB
    from opsengine.store.export import DEFAULT_EXPORT_TABLES, ROW_TIME

    assert common.DEFAULT_DB == DEFAULT_DB
    assert tuple(ROW_TIME) == export.EXPORTABLE_TABLES
    assert export.DEFAULT_EXPORT_TABLES == DEFAULT_EXPORT_TABLES
