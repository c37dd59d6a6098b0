"""Issue 17's targets: the whole ``opsengine ingest logs`` on 2,016,000 loghub lines, the store
stage beside pyarrow's bare Parquet write of the same rows, bytes on disk per line, the
alert storm (10,000 alert changes into incidents) and peak memory.

    python -m opsengine.bench.bench_history [--runs 3] [--tree DIR] [--out results.json]

``--tree`` runs another checkout's ``python/`` folder (e.g. the release before segments,
``git archive <commit> python | tar -x -C DIR``, with this build's ``_core*.so`` copied in)
so before and after are measured in the same session. Each figure is the median of
``--runs``. The input (the 16 ``*_2k.log`` files repeated 63 times, each copy's lines made
distinct by a `` #copy=N`` suffix) is written once to ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opsengine.bench.corpus import find_loghub

COPIES = 63

_STORE_STAGE = re.compile(r"store ([0-9.]+)s")


def build_input(path: Path) -> int:
    """The 2,016,000-line file; returns its line count."""
    loghub = find_loghub()
    files = sorted(loghub.glob("*/*_2k.log"))
    if len(files) != 16:
        raise SystemExit(f"{loghub}: expected the 16 loghub *_2k.log files, found {len(files)}")
    texts = [f.read_bytes().decode("utf-8", "replace").splitlines() for f in files]
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for copy in range(COPIES):
            for lines in texts:
                out.write("".join(f"{line} #copy={copy}\n" for line in lines))
                n += len(lines)
    return n


def _tree_env(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPSENGINE_CONFIG", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def run_ingest(tree: Path | None, log: Path, work: Path) -> dict:
    """One whole ``opsengine ingest logs -v`` into a fresh store: seconds, store stage, RSS, bytes."""
    db = work / "bench.duckdb"
    for p in (db, work / "bench.duckdb.wal", work / "bench.data"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "opsengine.cli",
         "ingest", "logs", str(log), "--db", str(db), "-v"],
        capture_output=True, text=True, env=_tree_env(tree), cwd=work,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr}")
    rss = int(re.search(r"maxrss_kb=(\d+)", done.stderr).group(1)) * 1024
    store_s = float(_STORE_STAGE.search(done.stdout).group(1))
    size = db.stat().st_size + sum(
        p.stat().st_size for p in (work / "bench.data").rglob("*") if p.is_file()
    )
    return {"seconds": seconds, "store_s": store_s, "peak_rss": rss, "bytes": size}


_PROBE = r"""
import json, sys, time
import duckdb, pyarrow.parquet as pq
from opsengine.store import Store
db, scratch = sys.argv[1], sys.argv[2]
with Store(db, read_only=True) as store:
    logs = store.query("SELECT * FROM logs")
    events = store.query("SELECT * FROM events")
    t0 = time.perf_counter()
    pq.write_table(logs, scratch + "/logs.parquet", compression="zstd")
    pq.write_table(events, scratch + "/events.parquet", compression="zstd")
    bare = time.perf_counter() - t0
    named = {}
    from opsengine.store.named_queries import load_queries, run_query
    queries = load_queries()
    params = {"from": "2000-01-01", "to": "2030-01-01"}
    for name, extra in [("error_rate", {}), ("log_volume", {}), ("top_rules", {}),
                        ("template_trend", {"bucket": "1 day"})]:
        t0 = time.perf_counter()
        run_query(store.cursor(), queries[name], {**params, **extra})
        named[name] = time.perf_counter() - t0
print(json.dumps({"rows": logs.num_rows + events.num_rows, "lines": logs.num_rows,
                  "bare_parquet_s": bare, "named": named}))
"""

_STORM = r"""
import json, sys, time, tempfile
from datetime import UTC, datetime, timedelta
import pyarrow as pa
from opsengine import Engine
from opsengine.alerts.changes import ALERT_CHANGES, fingerprint
db = sys.argv[1]
n = 10_000
base = datetime(2024, 5, 10, tzinfo=UTC)
rows = {f.name: [] for f in ALERT_CHANGES}
for i in range(n):
    host = f"h{i % 500}"
    rule = f"rule{i % 40}"
    labels = {"host": host, "service": f"svc{i % 60}"}
    state = "firing" if i < n // 2 else "resolved"
    j = i if i < n // 2 else i - n // 2
    values = {"ts": base + timedelta(seconds=j if state == "firing" else 3600 + j),
              "rule": rule, "fingerprint": fingerprint(rule, labels), "state": state,
              "labels": list(labels.items()), "annotations": [("summary", "x")],
              "value": 1.0, "active_since": base + timedelta(seconds=j),
              "severity": "high", "category": "availability", "source": "log"}
    for f in ALERT_CHANGES:
        rows[f.name].append(values.get(f.name))
table = pa.table(rows, schema=ALERT_CHANGES)
with Engine(db, admin_channel=False) as engine:
    t0 = time.perf_counter()
    engine.alerts.publish(table)
    s = time.perf_counter() - t0
    incidents = engine.query("SELECT count(*) AS n FROM incidents").column("n")[0].as_py()
print(json.dumps({"storm_s": s, "incidents": incidents}))
"""


def run_probe(tree: Path | None, work: Path) -> dict:
    scratch = Path(tempfile.mkdtemp(dir=work))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(work / "bench.duckdb"), str(scratch)],
            capture_output=True, text=True, env=_tree_env(tree), cwd=work,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"probe failed: {done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_storm(tree: Path | None, work: Path) -> dict:
    db = work / "storm.duckdb"
    for p in (db, work / "storm.duckdb.wal", work / "storm.data"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    done = subprocess.run(
        [sys.executable, "-c", _STORM, str(db)],
        capture_output=True, text=True, env=_tree_env(tree), cwd=work,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"storm failed: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tree", type=Path, help="another checkout's python/ folder")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "oe-bench-history")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--skip-ingest", action="store_true", help="only the alert storm")
    ap.add_argument("--skip-storm", action="store_true", help="no alert storm")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "loghub-2016000.log"
    if not log.exists():
        build_input(log)
    runs = []
    for _ in range(args.runs):
        r = {}
        if not args.skip_ingest:
            r.update(run_ingest(args.tree, log, args.work))
            r.update(run_probe(args.tree, args.work))
        if not args.skip_storm:
            r.update(run_storm(args.tree, args.work))
        runs.append(r)
        print(json.dumps(r), file=sys.stderr)

    def med(key, f=lambda r, k: r[k]):
        return statistics.median(f(r, key) for r in runs)

    summary = {"runs": runs}
    if not args.skip_ingest:
        lines = runs[0]["lines"]
        summary.update(
            {
                "lines": lines,
                "ingest_lines_per_s": med("x", lambda r, _: lines / r["seconds"]),
                "store_rows_per_s": med("x", lambda r, _: r["rows"] / r["store_s"]),
                "bare_parquet_rows_per_s": med("x", lambda r, _: r["rows"] / r["bare_parquet_s"]),
                "bytes_per_line": med("x", lambda r, _: r["bytes"] / lines),
                "peak_rss_mb": med("x", lambda r, _: r["peak_rss"] / 2**20),
                "named_s": {q: med(q, lambda r, k: r["named"][k]) for q in runs[0]["named"]},
            }
        )
    if not args.skip_storm:
        summary["alert_storm_s"] = med("storm_s")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
