"""Rotation torture: a writer appends fast and rotates by rename (with gzip of older files)
and by copytruncate, while ``opsengine tail`` is killed with SIGKILL at random moments and
restarted. At the end the ``logs`` table holds every written line exactly once.

Each round starts the tailer and kills it either during start-up or at a random moment
(up to 1.5 s) after it reports that it follows the file. OPSENGINE_TORTURE_RATE (lines/s,
default 20000) and OPSENGINE_TORTURE_KILLS (rounds, default 5); the seed is printed so a
failure's kill and rotation schedule can be replayed with OPSENGINE_TORTURE_SEED.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import duckdb

WRITER = textwrap.dedent(
    r"""
    import gzip, os, random, shutil, sys, time
    path, rate, stop_file, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rnd = random.Random(seed)

    def shift():
        # path.N -> path.N+1 (highest first), then gzip path.2 like logrotate's delaycompress
        ns = sorted({int(n.split(".")[2]) for n in os.listdir(".") if n.startswith("app.log.")},
                    reverse=True)
        for n in ns:
            for ext in ("", ".gz"):
                if os.path.exists(f"app.log.{n}{ext}"):
                    os.rename(f"app.log.{n}{ext}", f"app.log.{n + 1}{ext}")
        if os.path.exists("app.log.2"):
            with open("app.log.2", "rb") as src, gzip.open("app.log.2.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink("app.log.2")

    os.chdir(os.path.dirname(path))
    f = open(path, "a")
    written, start, rotations = 0, time.monotonic(), 0
    next_rotation = start + rnd.uniform(0.5, 1.5)
    while not os.path.exists(stop_file):
        due = int((time.monotonic() - start) * rate)
        if due > written:
            n = min(due - written, 5000)
            f.write("".join(
                f"Dec  1 10:{(i // 60) % 60:02d}:{i % 60:02d} web{i % 7} app[{i % 991}]: "
                f"seq={i:09d} {'x' * (i * 7919 % 90)}\n"
                for i in range(written, written + n)))
            f.flush()
            written += n
        if time.monotonic() >= next_rotation:
            shift()
            if rotations % 2 == 0:
                f.close()
                os.rename(path, path + ".1")
                f = open(path, "a")
            else:
                shutil.copyfile(path, path + ".1")
                os.truncate(path, 0)
            rotations += 1
            next_rotation = time.monotonic() + rnd.uniform(0.5, 1.5)
        else:
            time.sleep(0.005)
    f.close()
    print(written, rotations)
    """
)


def _tail_cmd(db, log):
    return [sys.executable, "-m", "opsengine.cli", "tail", "--db", str(db), str(log)]


def test_no_line_lost_or_duplicated_under_rotation_and_kill_9(tmp_path):
    rate = int(os.environ.get("OPSENGINE_TORTURE_RATE", "20000"))
    rounds = int(os.environ.get("OPSENGINE_TORTURE_KILLS", "5"))
    seed = int(os.environ.get("OPSENGINE_TORTURE_SEED", str(random.randrange(1 << 30))))
    print(f"torture seed {seed}, {rate} lines/s, {rounds} kills")
    rnd = random.Random(seed)
    logdir = tmp_path / "logs"
    logdir.mkdir()
    log, db = logdir / "app.log", tmp_path / "store.duckdb"
    log.touch()
    env = {**os.environ, "OPSENGINE_FILES_POLL_MS": "50", "OPSENGINE_CONFIG": "/nonexistent"}
    # The engine follows the (still empty) log before the application starts writing it.
    first = subprocess.run([*_tail_cmd(db, log), "--once"], env=env, capture_output=True)
    assert first.returncode == 0, first.stderr
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    stop_file = tmp_path / "stop-writing"
    writer = subprocess.Popen(
        [sys.executable, str(script), str(log), str(rate), str(stop_file), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    kills = 0
    try:
        for _ in range(rounds):
            tailer = subprocess.Popen(_tail_cmd(db, log), env=env, stdout=subprocess.PIPE)
            if rnd.random() < 0.8:  # mostly while it works; sometimes during start-up
                assert tailer.stdout.readline().startswith(b"following ")
            time.sleep(rnd.uniform(0.0, 1.5))
            tailer.send_signal(signal.SIGKILL)
            tailer.wait()
            tailer.stdout.close()
            kills += 1
            assert writer.poll() is None, "the writer died"
    finally:
        stop_file.touch()
    out, _ = writer.communicate(timeout=60)
    total, rotations = map(int, out.split())
    assert rotations >= 3 and kills >= 3, (rotations, kills)

    done = subprocess.run(
        [*_tail_cmd(db, log), "--once"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    final_run = int(done.stdout.split()[0].replace(",", ""))
    print(f"{total} lines, {rotations} rotations, {kills} kills; final run stored {final_run}")
    # The killed tailers did most of the work: restarts resumed, not re-read.
    assert final_run < total

    con = duckdb.connect(str(db), read_only=True)
    seqs = con.execute(
        "SELECT CAST(regexp_extract(raw, 'seq=(\\d+)', 1) AS BIGINT) AS seq, count(*) AS n "
        "FROM logs GROUP BY seq HAVING n > 1 ORDER BY seq LIMIT 5"
    ).fetchall()
    assert seqs == [], f"duplicated lines (seq, copies): {seqs} (seed {seed})"
    stored, distinct, hi, sources = con.execute(
        "SELECT count(*), count(DISTINCT raw), "
        "max(CAST(regexp_extract(raw, 'seq=(\\d+)', 1) AS BIGINT)), list(DISTINCT source) "
        "FROM logs"
    ).fetchone()
    assert stored == distinct == total, (
        f"{total} lines written, {stored} stored ({distinct} distinct); "
        f"{rotations} rotations, {kills} kills, seed {seed}"
    )
    assert hi == total - 1
    assert sources == [str(log)]
    # The parsed header survived the journey, not just the raw text.
    assert (
        con.execute(
            "SELECT count(*) FROM logs WHERE app = 'app' AND host LIKE 'web%' AND message LIKE 'seq=%'"
        ).fetchone()[0]
        == total
    )
