"""Store and ingest throughput: what one machine can write into the history tables.

* **metrics append**: ``append_metrics`` (series ids computed in the core, a series' labels
  written once, samples as ts/series id/value) against a plain DuckDB ``INSERT … SELECT``
  of the same Arrow table (ts, host, name, labels map, value) into a table of those columns.

* **logs + events append**: opsengine's store stage (``LogIngestor.store_batch``: ids,
  the ``logs`` rows, the rule events with their fields map, the template catalogue and the
  checkpoint in one transaction per block) against the ceiling, a plain DuckDB
  ``INSERT … SELECT`` of the same prepared Arrow tables (logs rows and event rows, nothing
  else), into a fresh DuckDB file each, same blocks, same run.
* **end to end**: ``opsengine ingest logs`` of the loghub corpus replicated to a file of
  about 2 million lines (read, parse, match with the default pack, mine templates, store),
  with the time per stage and the peak memory (run as a subprocess so its RSS is its own).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from opsengine.bench.corpus import find_loghub, loghub_lines, replicated
from opsengine.ingest.log_templates import LogTemplates
from opsengine.ingest.logs import LogIngestor
from opsengine.rules import RuleSet
from opsengine.store import Store

BLOCK_LINES = 32_768


@dataclass
class StoreResult:
    what: str
    lines: int
    lines_per_s: float
    runs: int
    note: str = ""


def _blocks(lines: pa.Array) -> list[pa.Array]:
    return [lines.slice(i, BLOCK_LINES) for i in range(0, len(lines), BLOCK_LINES)]


def bench_append(lines: pa.Array, runs: int, scratch: Path) -> list[StoreResult]:
    """Median lines/s of our store stage and of the plain INSERT … SELECT ceiling."""
    rules = RuleSet.default()
    ours, ceiling = [], []
    for run in range(runs):
        db = scratch / f"append-{run}.duckdb"
        with Store(db) as store:
            ingestor = LogIngestor(store, rules, templates=LogTemplates(store))
            prepared = [ingestor.prepare(b) for b in _blocks(lines)]
            t = time.perf_counter()
            for p in prepared:
                ingestor.store_batch(p, source="bench")
            ours.append(len(lines) / (time.perf_counter() - t))
            # The same rows as plain Arrow tables, for the ceiling.
            logs = store.query("SELECT * FROM logs ORDER BY id")
            events = store.query("SELECT * FROM events ORDER BY log_id")
        ceiling_db = scratch / f"ceiling-{run}.duckdb"
        con = duckdb.connect(str(ceiling_db))
        con.register("all_logs", logs)
        con.register("all_events", events)
        con.execute("CREATE TABLE logs AS SELECT * FROM all_logs LIMIT 0")
        con.execute("CREATE TABLE events AS SELECT * FROM all_events LIMIT 0")
        blocks = -(-logs.num_rows // BLOCK_LINES)
        per_block = -(-events.num_rows // blocks)
        t = time.perf_counter()
        for k in range(blocks):
            con.execute("BEGIN")
            con.register("b_logs", logs.slice(k * BLOCK_LINES, BLOCK_LINES))
            con.register("b_events", events.slice(k * per_block, per_block))
            con.execute("INSERT INTO logs SELECT * FROM b_logs")
            con.execute("INSERT INTO events SELECT * FROM b_events")
            con.execute("COMMIT")
        ceiling.append(len(lines) / (time.perf_counter() - t))
        con.close()
    return [
        StoreResult(
            "logs+events append: opsengine store stage",
            len(lines),
            statistics.median(ours),
            runs,
            "ids, logs, events with fields map, template catalogue, checkpoint; 1 txn/block",
        ),
        StoreResult(
            "logs+events append: DuckDB INSERT … SELECT (ceiling)",
            len(lines),
            statistics.median(ceiling),
            runs,
            "same rows from Arrow, nothing else",
        ),
    ]


def metric_samples_table(n: int, series: int = 100_000) -> pa.Table:
    """``n`` samples over ``series`` host-collector-like series (host, name, 1–2 labels),
    in arrival order: every series once per round, rounds 10 s apart."""
    names = ["cpu_usage_percent", "disk_used_percent", "net_errors_total", "load1", "up"]
    per_host = 50
    hosts = [f"node{h:05d}" for h in range(series // per_host)]
    s_host, s_name, s_labels = [], [], []
    for h in hosts:
        for k in range(per_host):
            s_host.append(h)
            s_name.append(names[k % len(names)])
            extra = [("job", "node"), ("instance", f"{h}:9100")][: k % 3]
            s_labels.append([("series", f"s{k}"), *extra])
    idx = pa.array([i % series for i in range(n)], pa.int64())
    start = 1_764_000_000_000_000
    return pa.table(
        {
            "ts": pa.array(
                [start + (i // series) * 10_000_000 for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "host": pa.array(s_host).take(idx),
            "name": pa.array(s_name).take(idx),
            "labels": pa.array(s_labels, pa.map_(pa.string(), pa.string())).take(idx),
            "value": pa.array([float(i % 997) for i in range(n)], pa.float64()),
        }
    )


def bench_metric_append(samples: pa.Table, runs: int, scratch: Path) -> list[StoreResult]:
    """Our metric append (series ids in the core, samples as ts/series id/value) against a
    plain ``INSERT … SELECT`` of the same Arrow table into a table of the same columns."""
    from opsengine.store.metric_store import MetricSeriesCatalogue, append_metrics

    batch = 1 << 20
    ours, ceiling = [], []
    n = samples.num_rows
    for run in range(runs):
        with Store(scratch / f"metrics-{run}.duckdb") as store:
            catalogue = MetricSeriesCatalogue(store.cursor())
            append_metrics(store, catalogue, samples.slice(0, batch))  # series seen once
            t = time.perf_counter()
            for i in range(0, n, batch):
                append_metrics(store, catalogue, samples.slice(i, batch))
            ours.append(n / (time.perf_counter() - t))
        con = duckdb.connect(str(scratch / f"metrics-ceiling-{run}.duckdb"))
        con.execute(
            "CREATE TABLE metrics (ts TIMESTAMPTZ, host VARCHAR, name VARCHAR, "
            "labels MAP(VARCHAR, VARCHAR), value DOUBLE)"
        )
        t = time.perf_counter()
        for i in range(0, n, batch):
            con.execute("BEGIN")
            con.register("b", samples.slice(i, batch))
            con.execute("INSERT INTO metrics SELECT * FROM b")
            con.execute("COMMIT")
        ceiling.append(n / (time.perf_counter() - t))
        con.close()
    return [
        StoreResult(
            "metrics append: opsengine (series ids in the core)",
            n,
            statistics.median(ours),
            runs,
            "100,000 series; samples as ts, series id, value",
        ),
        StoreResult(
            "metrics append: DuckDB INSERT … SELECT, same table (ceiling)",
            n,
            statistics.median(ceiling),
            runs,
            "ts, host, name, labels MAP, value",
        ),
    ]


def bench_end_to_end(lines: pa.Array, runs: int, scratch: Path) -> tuple[list[StoreResult], dict]:
    """``opsengine ingest logs`` on a file of ``lines``: median lines/s, stage split, peak RSS."""
    log = scratch / "corpus.log"
    with log.open("w", encoding="utf-8") as f:
        for i in range(0, len(lines), 100_000):
            f.write("\n".join(lines.slice(i, 100_000).to_pylist()))
            f.write("\n")
    rates, detail = [], {}
    for run in range(runs):
        db = scratch / f"e2e-{run}.duckdb"
        # Peak RSS from VmHWM: ru_maxrss would carry the parent's peak over fork+exec.
        code = (
            "import json, re, sys, time\n"
            "from opsengine import Engine\n"
            "t = time.perf_counter()\n"
            f"with Engine({str(db)!r}, admin_channel=False) as e:\n"
            f"    r = e.ingest_logs({str(log)!r})\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
            "print(json.dumps({'lines': r.lines, 'seconds': r.seconds, 'stages': r.stages,"
            " 'command_seconds': time.perf_counter() - t,"
            " 'rss_mb': int(hwm.group(1)) / 1024 if hwm else float('nan')}))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rates.append(r["lines"] / r["seconds"])
        detail = r if not detail or r["lines"] / r["seconds"] == max(rates) else detail
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in detail["stages"].items())
    return (
        [
            StoreResult(
                "opsengine ingest logs, end to end",
                len(lines),
                statistics.median(rates),
                runs,
                f"peak RSS {detail['rss_mb']:.0f} MB; busy time per stage (stages overlap): "
                f"{stages}; whole command with threshold alerts, incidents and the final "
                f"checkpoint: {detail['lines'] / detail['command_seconds']:,.0f} lines/s",
            )
        ],
        detail,
    )


def run(
    *, quick: bool = False, out: Path | None = None, loghub: str | None = None
) -> list[StoreResult]:
    corpus = loghub_lines(find_loghub(loghub))
    append_lines = replicated(corpus, (30 if quick else 60) * 10**6)
    # Issue 3's shape: the 16 loghub logs replicated to 2 million lines (200,000 quick).
    e2e_target = 200_000 if quick else 2_000_000
    e2e_lines = pa.array(corpus * -(-e2e_target // max(1, len(corpus))), pa.string())
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        scratch = Path(tmp)
        results = bench_append(append_lines, runs, scratch)
        results += bench_metric_append(
            metric_samples_table((2 if quick else 10) * 10**6), runs, scratch
        )
        e2e, detail = bench_end_to_end(e2e_lines, runs, scratch)
        results += e2e
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "store.json").write_text(
            json.dumps({"results": [asdict(r) for r in results], "e2e": detail}, indent=2)
        )
    return results


def table(results: list[StoreResult]) -> str:
    rows = ["| what | rows | rows/s | note |", "|---|---:|---:|---|"]
    for r in results:
        rows.append(f"| {r.what} | {r.lines:,} | {r.lines_per_s:,.0f} | {r.note} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
