"""`opsengine ingest logs` end to end: real loghub files into a real DuckDB file."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from opsengine import Engine, RuleSet

from tests.support.loghub import DATASETS, LOGHUB, loghub_lines, needs_loghub


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opsengine.cli", *args],
        capture_output=True,
        input=stdin,
        timeout=300,
    )


def read(db: Path, sql: str, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def loghub_db(tmp_path_factory):
    if not (LOGHUB / "Apache" / "Apache_2k.log").exists():
        pytest.skip(f"the loghub corpus is not at {LOGHUB}")
    db = tmp_path_factory.mktemp("ingest") / "ops.duckdb"
    files = [str(LOGHUB / d / f"{d}_2k.log") for d in DATASETS]
    proc = cli("ingest", "logs", *files, "--db", str(db))
    assert proc.returncode == 0, proc.stderr.decode()
    return db


@needs_loghub
def test_every_line_is_stored_per_source_with_timestamps(loghub_db):
    per_source = dict(read(loghub_db, "SELECT source, count(*) FROM logs GROUP BY source"))
    for d in DATASETS:
        path = str(LOGHUB / d / f"{d}_2k.log")
        assert per_source[path] == len(loghub_lines(d)) == 2000
    # Every loghub line has a timestamp in its header; all must be parsed.
    assert read(loghub_db, "SELECT count(*) FROM logs WHERE ts IS NULL") == [(0,)]
    openssh = str(LOGHUB / "OpenSSH" / "OpenSSH_2k.log")
    first = read(
        loghub_db,
        "SELECT strftime(ts, '%m-%d %H:%M:%S'), host, app, pid FROM logs WHERE source = ? ORDER BY id LIMIT 1",
        [openssh],
    )
    assert first == [("12-10 06:55:46", "LabSZ", "sshd", "24200")]
    ids = read(loghub_db, "SELECT min(id), max(id), count(DISTINCT id) FROM logs")[0]
    assert ids == (1, 32000, 32000)


@needs_loghub
def test_events_per_rule_equal_the_matchers_count(loghub_db):
    rules = RuleSet.default()
    want: dict[str, int] = {}
    for d in DATASETS:
        for rule, n in rules.count(loghub_lines(d)).items():
            want[rule] = want.get(rule, 0) + n
    got = dict(read(loghub_db, "SELECT rule, count(*) FROM events GROUP BY rule"))
    # The default pack's `new_template` rule adds events of its own: never-seen error shapes.
    new_shapes = got.pop("new_error_log_shape", 0)
    assert got == {k: v for k, v in want.items() if v}
    assert new_shapes > 0
    levels = read(
        loghub_db,
        "SELECT DISTINCT l.level FROM events e JOIN logs l ON l.id = e.log_id "
        "WHERE e.rule = 'new_error_log_shape'",
    )
    assert {lv for (lv,) in levels} <= {"emergency", "alert", "critical", "error"}
    # Events carry the rule's metadata, the captures and the line they came from.
    row = read(
        loghub_db,
        "SELECT e.severity, e.category, e.fields['rhost'], l.raw FROM events e JOIN logs l ON l.id = e.log_id "
        "WHERE e.rule = 'sshd_failed_password' ORDER BY e.log_id LIMIT 1",
    )[0]
    assert row[:2] == ("high", "security") or row[1] == "security"
    assert row[2] and row[2] in row[3]


@needs_loghub
def test_reingest_is_idempotent_and_a_grown_file_resumes(loghub_db, tmp_path):
    before = read(loghub_db, "SELECT count(*) FROM logs")[0][0]
    again = cli("ingest", "logs", str(LOGHUB / "Linux" / "Linux_2k.log"), "--db", str(loghub_db))
    assert again.returncode == 0
    assert b"2,000 already stored (skipped)" in again.stdout
    # The same content under another name and gzip-compressed is not counted twice either.
    copy = tmp_path / "linux-copy.log.gz"
    copy.write_bytes(gzip.compress((LOGHUB / "Linux" / "Linux_2k.log").read_bytes()))
    assert cli("ingest", "logs", str(copy), "--db", str(loghub_db)).returncode == 0
    assert read(loghub_db, "SELECT count(*) FROM logs")[0][0] == before
    # A file that grew: only the new lines are stored.
    grown = tmp_path / "grown.log"
    base = (LOGHUB / "Mac" / "Mac_2k.log").read_bytes()
    grown.write_bytes(
        base
        + b"Jul  8 08:10:46 calvisitor kernel[0]: new line one\nJul  8 08:10:47 calvisitor kernel[0]: new line two\n"
    )
    proc = cli("ingest", "logs", str(grown), "--db", str(loghub_db))
    assert proc.returncode == 0, proc.stderr
    assert b"2 lines" in proc.stdout
    assert read(loghub_db, "SELECT count(*) FROM logs")[0][0] == before + 2


def test_gzip_stdin_and_bad_lines_are_kept(tmp_path):
    db = tmp_path / "ops.duckdb"
    plain = b"Jun 14 15:16:01 combo sshd[1]: Failed password for root from 10.0.0.9 port 22 ssh2\n\xff\xfe not utf-8\n\nno header at all\n"
    gz = tmp_path / "auth.log.gz"
    gz.write_bytes(gzip.compress(plain))
    assert cli("ingest", "logs", str(gz), "--db", str(db), "--host", "web-1").returncode == 0
    proc = cli("ingest", "logs", "-", "--db", str(db), "--source", "pipe", stdin=plain)
    assert proc.returncode == 0, proc.stderr
    rows = read(db, "SELECT source, host, raw, ts IS NOT NULL FROM logs ORDER BY id")
    assert len(rows) == 8  # four lines each, the empty one and the undecodable one included
    assert rows[0][:2] == (str(gz), "web-1")
    assert rows[1][2] == "\ufffd\ufffd not utf-8"
    assert rows[4][:2] == ("pipe", "combo")
    assert rows[7][3] is False  # no timestamp to parse, stored anyway
    assert read(db, "SELECT count(*) FROM events WHERE rule = 'sshd_failed_password'") == [(2,)]


def test_corrupt_gzip_keeps_earlier_batches_and_names_the_file(tmp_path):
    db = tmp_path / "ops.duckdb"
    good = "".join(
        f"2024-01-01 00:00:{i % 60:02d} INFO line {i}\n" for i in range(300_000)
    ).encode()
    blob = gzip.compress(good)
    bad = tmp_path / "broken.log.gz"
    bad.write_bytes(blob[: len(blob) // 2] + b"\x00garbage" * 1000)
    proc = cli("ingest", "logs", str(bad), "--db", str(db))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert str(bad) in err and "corrupt input" in err and "kept" in err
    stored = read(db, "SELECT count(*) FROM logs")[0][0]
    assert 0 < stored < 300_000


def test_a_database_locked_by_another_process_is_named(tmp_path):
    db = tmp_path / "ops.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(db)!r})
                print("ready", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ready"
        log = tmp_path / "x.log"
        log.write_text("hello\n")
        proc = cli("ingest", "logs", str(log), "--db", str(db))
        assert proc.returncode == 1
        err = proc.stderr.decode()
        assert str(db) in err and "locked by another process" in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_engine_ingests_arrow_lines_and_metrics(tmp_path):
    with Engine(tmp_path / "e.duckdb") as engine:
        r = engine.ingest_logs(
            pa.array(["kernel: Out of memory: Killed process 12 (java)", "ok"]), source="unit"
        )
        assert (r.lines, r.source) == (2, "unit")
        assert engine.query("SELECT count(*) AS n FROM logs").column("n").to_pylist() == [2]
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
        old = datetime(2001, 1, 1, tzinfo=UTC)
        n = engine.ingest_metrics(
            pa.table(
                {
                    "ts": pa.array(
                        [
                            minute,
                            minute + timedelta(seconds=30),
                            minute + timedelta(seconds=61),
                            old,
                        ],
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "host": ["h1"] * 4,
                    "name": ["cpu"] * 4,
                    "labels": pa.array([[("core", "0")]] * 4, pa.map_(pa.string(), pa.string())),
                    "value": [1.0, 3.0, 5.0, 9.0],
                }
            )
        )
        assert n == 4
        report = engine.maintenance()
        assert report.rolled_up_minutes == 3  # two recent minutes and the old one
        assert report.deleted["metrics"] == 1  # the 2001 sample is past 15 days of retention
        assert report.deleted["metrics_1m"] == 1
        rows = engine.query(
            "SELECT min, max, avg, count, last FROM metrics_1m ORDER BY ts"
        ).to_pylist()
        assert rows == [
            {"min": 1.0, "max": 3.0, "avg": 2.0, "count": 2, "last": 3.0},
            {"min": 5.0, "max": 5.0, "avg": 5.0, "count": 1, "last": 5.0},
        ]
        # The watermark prevents counting a minute twice.
        assert engine.maintenance().rolled_up_minutes == 0


def test_sql_reads_through_a_running_ingest(tmp_path):
    """While `opsengine ingest logs -` holds the file, `opsengine sql` reads through its channel."""
    db = tmp_path / "ops.duckdb"
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsengine.cli",
            "ingest",
            "logs",
            "-",
            "--db",
            str(db),
            "--source",
            "pipe",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Ten lines, then a long line still being written: the ten are stored meanwhile.
        ingest.stdin.write(b"2024-05-01 10:00:00 ERROR first line\n" * 10 + b"x" * 1000)
        ingest.stdin.flush()
        sock = Path(str(db) + ".sock")
        for _ in range(300):
            if sock.exists():
                proc = cli("sql", "--db", str(db), "-c", "SELECT count(*) AS n FROM logs")
                if proc.returncode == 0 and b"10" in proc.stdout:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the running ingest never answered through its admin channel")
        assert b"admin channel" in proc.stderr
        refused = cli("sql", "--db", str(db), "-c", "DELETE FROM logs")
        assert refused.returncode != 0
        ingest.stdin.write(b"\n")
    finally:
        ingest.stdin.close()
        assert ingest.wait(timeout=60) == 0
    assert read(db, "SELECT count(*) FROM logs") == [(11,)]


def test_store_memory_limit_comes_from_settings(tmp_path):
    from opsengine.config import load_settings
    from opsengine.store import StoreError

    cfg = tmp_path / "opsengine.toml"
    cfg.write_text('[store]\nmemory_limit = "300MB"\n')
    with Engine(tmp_path / "a.duckdb", load_settings(cfg, env={})) as engine:
        limit = engine.query("SELECT current_setting('memory_limit') AS m").column("m")[0].as_py()
        assert limit == "286.1 MiB"  # DuckDB reports 300 MB in MiB
    bad = load_settings(env={"OPSENGINE_STORE_MEMORY_LIMIT": "lots"})
    with pytest.raises(StoreError, match="memory_limit 'lots'"):
        Engine(tmp_path / "b.duckdb", bad)
