"""Reading a database another process holds: the admin channel, end to end.

A real holder process opens the store read-write, serves the channel and keeps
writing; ``opsengine sql`` and ``opsengine query`` in other processes read through it.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest
from opsengine.store import Store, StoreError
from opsengine.store.admin_channel import AdminChannel
from opsengine.store.admin_client import AdminChannelClient, AdminChannelError
from opsengine.store.admin_protocol import MAX_REQUEST_BYTES, recv_response
from opsengine.store.named_queries import QueryError
from opsengine.store.sql_gate import WriteRefusedError, read_only_statements

from tests.support.history_rows import make_history_db, run_cli, subprocess_env

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")

HOLDER = textwrap.dedent(
    """
    import json, sys, threading, time
    from opsengine.store import Store
    from opsengine.store.admin_channel import AdminChannel

    store = Store(sys.argv[1])
    channel = AdminChannel(store).start() if sys.argv[2] == "serve" else None
    stop, writes, errors = threading.Event(), [0], []

    def keep_writing():
        while not stop.is_set():
            try:
                with store.transaction() as cur:
                    n = writes[0] + 1
                    cur.execute("INSERT INTO engine_state VALUES (?, ?)", [f"holder-{n}", str(n)])
                writes[0] = n
            except Exception as e:
                errors.append(repr(e))
            time.sleep(0.01)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    print("ready", flush=True)
    sys.stdin.readline()
    stop.set()
    writer.join()
    if channel is not None:
        channel.close()
    store.close()
    print(json.dumps({"writes": writes[0], "errors": errors}), flush=True)
    """
)


class Holder:
    """A process that holds the store read-write (and serves the channel unless told not to)."""

    def __init__(self, tmp_path, db, *, serve: bool = True) -> None:
        script = tmp_path / "holder.py"
        script.write_text(HOLDER)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(db), "serve" if serve else "hold"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(tmp_path),
        )
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise AssertionError(f"holder did not start: {line}{self.process.stderr.read()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> dict:
        out, err = self.process.communicate("stop\n", timeout=30)
        assert self.process.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def db(tmp_path):
    return make_history_db(tmp_path / "ops.duckdb")


def holder_writes_seen(db, home) -> int:
    done = run_cli(
        "sql", "--db", str(db), home=home,
        stdin=".mode json\nSELECT count(*) AS n FROM engine_state WHERE key LIKE 'holder-%';\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["n"]


def test_cli_reads_through_the_holders_channel_while_it_keeps_writing(tmp_path, db):
    holder = Holder(tmp_path, db)
    sock = db.with_name(db.name + ".sock")
    try:
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600

        done = run_cli(
            "sql", "--db", str(db), "-c", "SELECT count(*) AS lines FROM logs", home=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["lines", "-----", "    8", "(1 row)"]
        assert (
            done.stderr.count(
                f"database held by PID {holder.pid}; querying through its admin channel"
            )
            == 1
        )

        query = run_cli(
            "query", "top_rules", "--db", str(db), "-p", "from=2024-05-03", "-p", "to=2024-05-11",
            "-p", "limit=2", "--format", "json", home=tmp_path,
        )  # fmt: skip
        assert query.returncode == 0, query.stderr
        assert [(r["rule"], r["events"]) for r in json.loads(query.stdout)] == [
            ("ssh_fail", 3),
            ("disk_full", 2),
        ]
        bad_param = run_cli(
            "query", "top_rules", "--db", str(db), "-p", "from=someday", home=tmp_path
        )
        assert bad_param.returncode == 2 and "invalid TIMESTAMPTZ 'someday'" in bad_param.stderr

        for write in (
            "INSERT INTO engine_state VALUES ('intruder', 'x')",
            "DELETE FROM logs",
            "WITH gone AS (DELETE FROM engine_state RETURNING *) SELECT count(*) FROM gone",
            "CREATE TABLE sneaky (a INTEGER)",
            "ATTACH 'other.duckdb'",
            "COPY logs TO 'out.csv'",
        ):
            refused = run_cli("sql", "--db", str(db), "-c", write, home=tmp_path)
            assert refused.returncode == 1, write
            assert "refused" in refused.stderr or "only reads" in refused.stderr, refused.stderr

        shell = run_cli("sql", "--db", str(db), "-c", ".schema logs", home=tmp_path)
        assert shell.stdout.startswith("CREATE VIEW logs")  # over its history segments

        first = holder_writes_seen(db, tmp_path)
        time.sleep(0.3)
        second = holder_writes_seen(db, tmp_path)
        assert second > first > 0  # the holder's writer carried on while we read
    finally:
        outcome = holder.stop() if holder.process.poll() is None else {}
        holder.kill()
    assert outcome["errors"] == [] and outcome["writes"] >= second
    assert not sock.exists()  # removed on close
    after = run_cli("sql", "--db", str(db), "-c", "SELECT count(*) AS n FROM logs", home=tmp_path)
    assert after.returncode == 0 and "admin channel" not in after.stderr
    intruders = run_cli(
        "sql", "--db", str(db), "-c", "SELECT count(*) AS n FROM engine_state WHERE key = 'intruder'",
        home=tmp_path,
    )  # fmt: skip
    assert intruders.stdout.splitlines()[2].strip() == "0"


def test_without_a_channel_the_lock_error_stands(tmp_path, db):
    holder = Holder(tmp_path, db, serve=False)
    try:
        done = run_cli("sql", "--db", str(db), "-c", "SELECT 1", home=tmp_path)
        assert done.returncode == 1
        assert "locked by another process" in done.stderr and f"PID {holder.pid}" in done.stderr
        query = run_cli("query", "top_rules", "--db", str(db), home=tmp_path)
        assert query.returncode == 1 and "locked" in query.stderr
    finally:
        holder.stop()


def test_write_mode_cannot_use_the_channel(tmp_path, db):
    holder = Holder(tmp_path, db)
    try:
        done = run_cli("sql", "--db", str(db), "--write", "-c", "SELECT 1", home=tmp_path)
        assert done.returncode == 1
        assert "--write needs the database to itself" in done.stderr
    finally:
        holder.stop()


def _leave_stale_socket(path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed process leaves


def test_a_stale_socket_is_replaced_and_a_non_socket_is_left_alone(tmp_path, db):
    sock = db.with_name(db.name + ".sock")
    _leave_stale_socket(sock)
    with Store(db) as store, AdminChannel(store) as channel:
        assert channel.path == sock
        answer = AdminChannelClient(sock).sql("SELECT count(*) AS n FROM logs")
        assert answer.table.to_pylist() == [{"n": 8}]
        with pytest.raises(StoreError, match="already serves this admin channel"):
            AdminChannel(store).start()
    assert not sock.exists()
    sock.write_text("not a socket")
    with Store(db) as store, pytest.raises(StoreError, match="exists and is not a socket"):
        AdminChannel(store).start()
    assert sock.read_text() == "not a socket"


def test_a_dead_holders_socket_is_reported_by_the_cli(tmp_path, db):
    _leave_stale_socket(db.with_name(db.name + ".sock"))
    holder = Holder(tmp_path, db, serve=False)
    try:
        done = run_cli("sql", "--db", str(db), "-c", "SELECT 1", home=tmp_path)
        assert done.returncode == 1
        assert "locked" in done.stderr and "no admin channel answers" in done.stderr
    finally:
        holder.stop()


def test_results_are_bounded_and_truncation_is_reported(tmp_path, db):
    with Store(db) as store, AdminChannel(store, row_limit=5) as channel:
        client = AdminChannelClient(channel.path)
        answer = client.sql("SELECT * FROM range(20) AS t(i)")
        assert answer.table.column("i").to_pylist() == [0, 1, 2, 3, 4]
        assert answer.truncated and answer.row_limit == 5
        small = client.sql("SELECT * FROM range(5) AS t(i)")
        assert small.table.num_rows == 5 and not small.truncated
        assert client.holder_pid == os.getpid()


def test_named_queries_and_parameters_through_the_channel(tmp_path, db):
    with Store(db) as store, AdminChannel(store) as channel:
        client = AdminChannelClient(channel.path)
        rows = client.query("host_events", {"host": "h1", "from": "2024-05-10", "to": "2024-05-11"})
        assert [r["rule"] for r in rows.table.to_pylist()] == ["disk_full", "disk_full", "ssh_fail"]
        with pytest.raises(QueryError, match="parameter 'host' is required"):
            client.query("host_events", {})
        bound = client.sql("SELECT count(*) AS n FROM events WHERE host = $host", {"host": "h2"})
        assert bound.table.to_pylist() == [{"n": 3}]
        with pytest.raises(WriteRefusedError, match="INSERT statements are not read-only"):
            client.sql("SELECT 1; INSERT INTO logs SELECT * FROM logs")


def test_oversized_requests_are_refused(tmp_path, db):
    with Store(db) as store, AdminChannel(store) as channel:
        with pytest.raises(AdminChannelError, match="exceeds the 1048576 byte limit"):
            AdminChannelClient(channel.path).sql("SELECT '" + "x" * MAX_REQUEST_BYTES + "'")
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(channel.path))
        raw.sendall(struct.pack(">I", MAX_REQUEST_BYTES + 1))
        kind, payload = recv_response(raw)
        raw.close()
        assert kind == b"E"
        assert json.loads(payload)["kind"] == "bad_request"


def test_a_deep_folder_beyond_the_socket_path_limit_still_works(tmp_path):
    deep = tmp_path.joinpath(*["a_rather_long_folder_name"] * 5)
    deep.mkdir(parents=True)
    db = make_history_db(deep / "ops.duckdb")
    assert len(str(db) + ".sock") > 108
    with Store(db) as store, AdminChannel(store) as channel:
        assert channel.path.exists()
        answer = AdminChannelClient(channel.path).sql("SELECT count(*) AS n FROM logs")
        assert answer.table.to_pylist() == [{"n": 8}]
    assert not channel.path.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "FROM logs LIMIT 1",
        "SHOW TABLES",
        "DESCRIBE logs",
        "SUMMARIZE logs",
        "EXPLAIN SELECT * FROM logs",
        "EXPLAIN ANALYZE SELECT * FROM logs",
        "PRAGMA table_info('logs')",
        "PRAGMA database_size",
        "SELECT 1; SELECT 2",
    ],
)
def test_read_only_statements_pass(sql):
    assert read_only_statements(duckdb.connect(), sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("INSERT INTO logs VALUES (1)", "INSERT statements are not read-only"),
        ("UPDATE logs SET host = 'x'", "UPDATE statements"),
        ("DROP TABLE logs", "DROP statements"),
        ("SET threads = 1", "SET statements"),
        ("CHECKPOINT", "CALL statements"),
        ("INSTALL httpfs", "INSTALL statements"),
        ("EXPORT DATABASE 'x'", "EXPORT statements"),
        ("EXPLAIN ANALYZE INSERT INTO logs VALUES (1)", "EXPLAIN INSERT is not read-only"),
        ("PRAGMA import_database('x')", "PRAGMA import_database is not an introspection pragma"),
        ("SELECT 1; DELETE FROM logs", "statement 2 (DELETE FROM logs) was refused"),
    ],
)
def test_everything_else_is_refused_with_the_reason(sql, reason):
    with pytest.raises(WriteRefusedError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_only_statements(duckdb.connect(), sql)


def test_runaway_queries_are_interrupted_by_the_time_limit_and_by_close(tmp_path, db):
    endless = "SELECT count(*) FROM range(1000000000000) AS a"
    with Store(db) as store:
        with (
            AdminChannel(store, statement_timeout=0.5) as channel,
            pytest.raises(AdminChannelError, match=r"interrupted: it ran past 0.5 s"),
        ):
            AdminChannelClient(channel.path).sql(endless)
        channel = AdminChannel(store).start()
        outcome: list[BaseException] = []

        def ask() -> None:
            try:
                AdminChannelClient(channel.path).sql(endless)
            except BaseException as e:
                outcome.append(e)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.5)
        started = time.monotonic()
        channel.close()
        asking.join(timeout=10)
        assert time.monotonic() - started < 5
        assert len(outcome) == 1 and "closing its admin channel" in str(outcome[0])
