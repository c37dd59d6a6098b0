"""Log-rule matching throughput: opsengine against Python `re`, polars, DuckDB and hyperscan.

All engines run the same rules (the default pack) over the same lines. The
slow per-rule peers run on a slice of the corpus sized to take a couple of
seconds; throughput (MB/s) does not depend on the slice. Peers that cannot
set their thread count in-process (polars) run in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

from opsengine.bench.corpus import find_loghub, loghub_lines, nbytes, replicated
from opsengine.rules import RuleSet


@dataclass
class Result:
    engine: str
    threads: int
    mb_per_s: float
    lines_per_s: float
    runs: int
    note: str = ""


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: page in buffers, fill caches, JIT-free but fair
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def python_patterns(rules: RuleSet) -> list[tuple[str, str, bool]]:
    out = []
    for r in rules.log_rules:
        out.append((r.name, re.escape(r.pattern) if r.literal else r.pattern, r.ignore_case))
    return out


def bench_opsengine(rules: RuleSet, lines: pa.Array, threads: int, runs: int) -> Result:
    mb = nbytes(lines) / 1e6
    s = median_seconds(lambda: rules.match(lines, threads=threads), runs)
    return Result("opsengine match (rows+captures)", threads, mb / s, len(lines) / s, runs)


def bench_opsengine_count(rules: RuleSet, lines: pa.Array, threads: int, runs: int) -> Result:
    mb = nbytes(lines) / 1e6
    s = median_seconds(lambda: rules.count(lines, threads=threads), runs)
    return Result("opsengine count", threads, mb / s, len(lines) / s, runs)


def bench_python_re(rules: RuleSet, lines: list[str], runs: int) -> Result:
    compiled = [re.compile(p, re.IGNORECASE if ic else 0) for _, p, ic in python_patterns(rules)]
    mb = sum(len(s.encode()) for s in lines) / 1e6

    def run():
        n = 0
        for rx in compiled:
            search = rx.search
            for line in lines:
                if search(line):
                    n += 1
        return n

    s = median_seconds(run, runs)
    return Result("Python re, per rule", 1, mb / s, len(lines) / s, runs)


def bench_duckdb(rules: RuleSet, lines: pa.Array, threads: int, runs: int) -> Result:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    table = pa.table({"line": lines})
    con.register("corpus", table)
    pats = python_patterns(rules)
    exprs = ", ".join(
        f"count(*) FILTER (WHERE regexp_matches(line, ${i + 1}{', ' + repr('i') if ic else ''}))"
        for i, (_, _, ic) in enumerate(pats)
    )
    sql = f"SELECT {exprs} FROM corpus"
    params = [p for _, p, _ in pats]
    mb = nbytes(lines) / 1e6
    s = median_seconds(lambda: con.execute(sql, params).fetchall(), runs)
    return Result("DuckDB regexp_matches, per rule", threads, mb / s, len(lines) / s, runs)


_POLARS_CHILD = r"""
import json, sys, time, statistics
import polars as pl, pyarrow as pa
pats = json.loads(sys.argv[1]); path = sys.argv[2]; runs = int(sys.argv[3])
with pa.memory_map(path) as src:
    lines = pa.ipc.open_file(src).read_all().column(0)
df = pl.DataFrame({"line": pl.Series(lines)})
exprs = [pl.col("line").str.contains(("(?i)" if ic else "") + p).sum().alias(n) for n, p, ic in pats]
df.select(exprs)
times = []
for _ in range(runs):
    t = time.perf_counter(); df.select(exprs); times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def bench_polars(rules: RuleSet, lines: pa.Array, threads: int, runs: int, scratch: Path) -> Result:
    path = scratch / "polars-lines.arrow"
    with (
        pa.OSFile(str(path), "wb") as f,
        pa.ipc.new_file(f, pa.schema([("line", lines.type)])) as w,
    ):
        w.write_table(pa.table({"line": lines}))
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _POLARS_CHILD,
            json.dumps(python_patterns(rules)),
            str(path),
            str(runs),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    path.unlink(missing_ok=True)
    s = float(proc.stdout.strip().splitlines()[-1])
    mb = nbytes(lines) / 1e6
    return Result(
        "polars str.contains, per rule, one select", threads, mb / s, len(lines) / s, runs
    )


def hyperscan_database(rules: RuleSet):
    """Compile the rules for hyperscan; returns (db, number compiled, names skipped)."""
    import hyperscan

    exprs, ids, flags, skipped = [], [], [], []
    for i, (name, pat, ic) in enumerate(python_patterns(rules)):
        plain = re.sub(r"\(\?P<\w+>", "(", pat)
        f = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP
        if ic:
            f |= hyperscan.HS_FLAG_CASELESS
        try:
            probe = hyperscan.Database()
            probe.compile(expressions=[plain.encode()], ids=[i], flags=[f])
        except hyperscan.error:
            skipped.append(name)
            continue
        exprs.append(plain.encode())
        ids.append(i)
        flags.append(f)
    db = hyperscan.Database()
    db.compile(expressions=exprs, ids=ids, flags=flags)
    return db, len(exprs), skipped


def bench_hyperscan(rules: RuleSet, lines: pa.Array, runs: int) -> list[Result]:
    try:
        import hyperscan
    except ImportError:
        return []
    db, compiled, skipped = hyperscan_database(rules)
    note = f"{compiled} rules" + (f"; {len(skipped)} not supported by hyperscan" if skipped else "")
    py_lines = [s.encode() for s in lines.to_pylist()]
    mb_lines = sum(len(b) for b in py_lines) / 1e6
    scratch = hyperscan.Scratch(db)

    def per_line():
        hits = []

        def on_match(rule_id, start, end, flags, context):
            hits.append(rule_id)

        for b in py_lines:
            db.scan(b, match_event_handler=on_match, scratch=scratch)
        return hits

    s_line = median_seconds(per_line, runs)
    buffer = b"\n".join(py_lines)
    s_buf = median_seconds(lambda: db.scan(buffer, scratch=scratch), runs)
    return [
        Result(
            "hyperscan per line (Python callback)",
            1,
            mb_lines / s_line,
            len(py_lines) / s_line,
            runs,
            note,
        ),
        Result(
            "hyperscan whole buffer, no callback",
            1,
            len(buffer) / 1e6 / s_buf,
            len(py_lines) / s_buf,
            runs,
            note,
        ),
    ]


def slice_for(lines: pa.Array, seconds: float, mb_per_s_guess: float) -> pa.Array:
    """An even sample of the corpus (every k-th line, so all 16 systems are in it in
    proportion) that a peer at ``mb_per_s_guess`` scans in about ``seconds``."""
    want = int(seconds * mb_per_s_guess * 1e6)
    avg = max(1, nbytes(lines) // max(1, len(lines)))
    n = max(2000, min(len(lines), want // avg))
    step = max(1, len(lines) // n)
    return lines.take(pa.array(range(0, step * n, step), pa.int64()))


def run(
    *,
    quick: bool = False,
    out: Path | None = None,
    loghub: str | None = None,
    rules: RuleSet | None = None,
) -> list[Result]:
    rules = rules or RuleSet.default()
    lines = replicated(loghub_lines(find_loghub(loghub)), (20 if quick else 140) * 10**6)
    runs = 3 if quick else 5
    peer_runs = 1 if quick else 3
    cores = os.cpu_count() or 1
    results = [
        bench_opsengine(rules, lines, 1, runs),
        bench_opsengine(rules, lines, cores, runs),
        bench_opsengine_count(rules, lines, 1, runs),
    ]
    scratch = out or Path.cwd()
    scratch.mkdir(parents=True, exist_ok=True)
    peer_slice = slice_for(lines, 2.0, 20)
    results.append(bench_polars(rules, peer_slice, 1, peer_runs, scratch))
    results.append(bench_polars(rules, peer_slice, cores, peer_runs, scratch))
    results.append(bench_duckdb(rules, slice_for(lines, 2.0, 2), 1, peer_runs))
    results.append(bench_python_re(rules, slice_for(lines, 2.0, 0.3).to_pylist(), peer_runs))
    results.extend(bench_hyperscan(rules, slice_for(lines, 2.0, 60), peer_runs))
    if out:
        (out / "matcher.json").write_text(
            json.dumps(
                {
                    "rules": len(rules.log_rules),
                    "corpus_mb": nbytes(lines) / 1e6,
                    "lines": len(lines),
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    return results


def table(results: list[Result]) -> str:
    base = results[0].mb_per_s
    rows = [
        "| engine | threads | MB/s | lines/s | opsengine 1-thread match ÷ this | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = base / r.mb_per_s if r.mb_per_s else float("inf")
        rows.append(
            f"| {r.engine} | {r.threads} | {r.mb_per_s:,.1f} | {r.lines_per_s:,.0f} | "
            f"{ratio:,.2f}× | {r.note} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(table(run(quick=quick)))
