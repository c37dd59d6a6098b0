"""Exactly-once history: a killed or failing ingest leaves every line stored once after a
re-run, and never acknowledges (checkpoints) lines whose segment is not committed."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
from opsengine import Engine
from opsengine.config import Settings
from opsengine.store import Store, StoreError

from tests.support.history_rows import run_cli, subprocess_env
from tests.support.segment_files import numbered_log, segment_files, stored_seqs

LINES = 60_000


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    return numbered_log(tmp_path_factory.mktemp("input") / "app.log", LINES)


def _ingest_process(log, db, home):
    env = subprocess_env(home)
    env["OPSENGINE_INGEST_BATCH_BYTES"] = str(64 * 1024)  # ~90 blocks: many commits to hit
    return subprocess.Popen(
        [sys.executable, "-m", "opsengine.cli", "ingest", "logs", str(log), "--db", str(db)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("files_before_kill", [1, 6, 40])
def test_sigkill_during_ingest_then_rerun_stores_every_line_once(
    tmp_path, big_log, files_before_kill
):
    db = tmp_path / "ops.duckdb"
    proc = _ingest_process(big_log, db, tmp_path)
    # Kill once the writer has produced this many files (a temp file counts: mid-write).
    while proc.poll() is None and len(segment_files(db)) < files_before_kill:
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()

    again = run_cli("ingest", "logs", str(big_log), "--db", str(db), home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert stored_seqs(db) == (LINES, LINES)
    with Store(db) as store:  # nothing left behind that the catalog does not name
        catalogued = store.query("SELECT sum(rows) AS r, count(*) AS n FROM history_segments")
        assert (
            catalogued.column("r")[0].as_py()
            == LINES + store.query("SELECT count(*) AS n FROM events").column("n")[0].as_py()
        )
        assert len(segment_files(db)) == catalogued.column("n")[0].as_py()
        assert not store.history.last_reconcile.lost


def test_a_failing_segment_write_acknowledges_nothing_unstored(tmp_path, big_log, monkeypatch):
    import opsengine.store.segments as segments

    real_write = segments.pq.write_table
    calls = {"n": 0}

    def disk_fills_up(table, where, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(table, where, **kwargs)

    settings = Settings()
    settings.ingest.batch_bytes = 64 * 1024
    db = tmp_path / "ops.duckdb"
    monkeypatch.setattr(segments.pq, "write_table", disk_fills_up)
    with Engine(db, settings, admin_channel=False) as engine:
        with pytest.raises(StoreError) as failed:
            engine.ingest_logs(big_log)
        message = str(failed.value)
        assert str(big_log) in message and "No space left on device" in message
        assert "cannot write a " in message and "segment" in message
        stored = engine.query("SELECT count(*) AS n FROM logs").column("n")[0].as_py()
        acknowledged = (
            engine.query(
                "SELECT lines_done FROM ingest_checkpoints WHERE source = ?", [str(big_log)]
            )
            .column("lines_done")[0]
            .as_py()
        )
        assert 0 < stored == acknowledged < LINES
        assert not [p for p in segment_files(db) if p.name.startswith(".tmp-")]
    monkeypatch.setattr(segments.pq, "write_table", real_write)

    with Engine(db, settings, admin_channel=False) as engine:
        engine.ingest_logs(big_log)
    assert stored_seqs(db) == (LINES, LINES)


def test_an_unwritable_data_directory_is_a_clear_error(tmp_path, big_log):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data directory should be")
    env_home = tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "ingest", "logs", str(big_log),
         "--db", str(tmp_path / "ops.duckdb")],
        env={**subprocess_env(env_home), "OPSENGINE_STORE_DATA_DIR": str(blocker / "data")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{blocker / 'data' / 'history'}: cannot create the history folder" in done.stderr
