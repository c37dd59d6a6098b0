"""``opsengine sql`` as a user runs it: one command, a piped script, an interactive session."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from opsengine.cli.sql_shell import split_statements

from tests.support.history_rows import make_history_db, run_cli, subprocess_env


@pytest.fixture
def db(tmp_path):
    return make_history_db(tmp_path / "ops.duckdb")


def test_one_command_prints_its_result(tmp_path, db):
    done = run_cli(
        "sql", "--db", str(db), "-c", "SELECT count(*) AS lines FROM logs", home=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["lines", "-----", "    8", "(1 row)"]


def test_one_dot_command(tmp_path, db):
    tables = run_cli("sql", "--db", str(db), "-c", ".tables", home=tmp_path)
    assert tables.returncode == 0, tables.stderr
    listed = tables.stdout.split()
    assert listed == sorted(listed)
    assert {
        "engine_state", "events", "ingest_checkpoints", "logs", "metrics", "metrics_1m",
        "schema_migrations", "alerts", "incidents", "log_templates",
    } <= set(listed)  # fmt: skip
    schema = run_cli("sql", "--db", str(db), "-c", ".schema engine_state", home=tmp_path)
    assert schema.stdout.startswith("CREATE TABLE engine_state(")
    missing = run_cli("sql", "--db", str(db), "-c", ".schema nothing", home=tmp_path)
    assert missing.returncode == 1
    assert "no table or view named 'nothing'" in missing.stderr


def test_an_sql_error_in_a_command_exits_1_with_the_message(tmp_path, db):
    done = run_cli("sql", "--db", str(db), "-c", "SELECT * FROM nowhere", home=tmp_path)
    assert done.returncode == 1
    assert "Table with name nowhere does not exist" in done.stderr


def test_the_database_opens_read_only_unless_write_is_given(tmp_path, db):
    insert = "INSERT INTO engine_state VALUES ('note', 'hello')"
    refused = run_cli("sql", "--db", str(db), "-c", insert, home=tmp_path)
    assert refused.returncode == 1
    assert "read-only" in refused.stderr and "--write" in refused.stderr
    written = run_cli("sql", "--db", str(db), "--write", "-c", insert, home=tmp_path)
    assert written.returncode == 0, written.stderr
    check = run_cli(
        "sql", "--db", str(db), "-c", "SELECT value FROM engine_state WHERE key = 'note'",
        home=tmp_path,
    )  # fmt: skip
    assert "hello" in check.stdout


def test_a_piped_script_runs_every_statement_and_goes_on_after_errors(tmp_path, db):
    script = """
        .mode json
        SELECT level, count(*) AS n
          FROM logs
         WHERE message <> 'semi;colon'   -- a ';' in a string or comment ends nothing
         GROUP BY level ORDER BY level;
        SELECT * FROM nowhere;
        .run top_rules from=2024-05-10 to=2024-05-11 limit=1
        .mode csv
        SELECT 'last' AS word
    """
    done = run_cli("sql", "--db", str(db), home=tmp_path, stdin=script)
    assert done.returncode == 1  # one statement failed
    assert "Table with name nowhere does not exist" in done.stderr
    first_end = done.stdout.index("]\n") + 2
    assert json.loads(done.stdout[:first_end]) == [
        {"level": "critical", "n": 1},
        {"level": "error", "n": 3},
        {"level": "info", "n": 3},
        {"level": "warning", "n": 1},
    ]
    rest = done.stdout[first_end:]
    second_end = rest.index("]\n") + 2
    assert [r["rule"] for r in json.loads(rest[:second_end])] == ["disk_full"]
    assert rest[second_end:] == "word\nlast\n"


def test_dot_queries_and_help(tmp_path, db):
    queries = run_cli("sql", "--db", str(db), "-c", ".queries", home=tmp_path)
    assert "top_rules  Events by rule" in queries.stdout
    helped = run_cli("sql", "--db", str(db), "-c", ".help", home=tmp_path)
    assert ".run NAME [k=v …]" in helped.stdout and "(read-only)" in helped.stdout
    unknown = run_cli("sql", "--db", str(db), "-c", ".frobnicate", home=tmp_path)
    assert unknown.returncode == 1 and "unknown command .frobnicate" in unknown.stderr


def test_timer_reports_run_time(tmp_path, db):
    done = run_cli("sql", "--db", str(db), home=tmp_path, stdin=".timer on\nSELECT 1 AS one;\n")
    assert done.returncode == 0, done.stderr
    assert "Run Time: " in done.stdout


def test_split_statements_respects_quotes_comments_and_dollar_strings():
    text = "SELECT 'a;b'; SELECT \"x;\" -- c;\n; SELECT $$;$$; /* ; */ SELECT 1; SELECT 'open;"
    done, rest = split_statements(text)
    assert done == ["SELECT 'a;b';", 'SELECT "x;" -- c;\n;', "SELECT $$;$$;", "/* ; */ SELECT 1;"]
    assert rest == " SELECT 'open;"
    assert split_statements(";; -- only\n;") == ([], "")
    assert split_statements("SELECT 'it''s;';") == (["SELECT 'it''s;';"], "")


def _read_until(fd: int, marker: bytes, timeout: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {marker!r}; saw {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_an_interactive_session_takes_multi_line_statements_and_keeps_history(tmp_path, db):
    leader, follower = pty.openpty()
    shell = subprocess.Popen(
        [sys.executable, "-m", "opsengine.cli", "sql", "--db", str(db)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=subprocess_env(tmp_path),
        close_fds=True,
    )
    os.close(follower)
    try:
        _read_until(leader, b"sql> ")
        os.write(leader, b"SELECT 40 + 2\n")
        _read_until(leader, b"...> ")
        os.write(leader, b"  AS answer;\n")
        assert b"42" in _read_until(leader, b"sql> ")
        os.write(leader, b"SELECT * FROM nowhere;\n")
        assert b"does not exist" in _read_until(leader, b"sql> ")
        os.write(leader, b".quit\n")
        assert shell.wait(timeout=20) == 0
    finally:
        if shell.poll() is None:
            shell.kill()
        os.close(leader)
    history = (tmp_path / ".opsengine_sql_history").read_text()
    assert "SELECT 40 + 2" in history and ".quit" in history
