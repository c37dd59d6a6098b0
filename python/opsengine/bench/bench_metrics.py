"""Metric-rule evaluation throughput against polars and DuckDB doing the same computation.

Run: ``python -m opsengine.bench.bench_metrics [--quick] [--samples N] [--series N] [--out FILE]``.
Defaults follow issue 4: 20 million samples over 100,000 series in arrival (time) order,
a sample per series every 10 s; ``--quick`` uses 2 million. Every figure is samples per
second of input, the median of ``--repeat`` runs (3), on this machine, in one process.

What is measured (opsengine = ``opsengine._core.MetricEvaluator``, fed Arrow batches of
1 M rows in arrival order, series as dictionary-encoded host names, state across batches):

- threshold: ``m > 90`` with ``for: 5m`` — vs polars/DuckDB counting ``value > 90`` and
  building the matching rows, and per-series last+max (group by the series);
- windows: ``avg_over_time(m[5m])``, ``rate(c[1m])``, ``zscore_over_time(m[1h])`` — vs
  polars (sort, then rolling mean per series) and DuckDB (window function over 5 minutes);
- labels: the same threshold rule with a one-label map per row, keys and values
  dictionary-encoded; and the interning of those label sets to series ids alone (a rule
  whose selector matches none of the series, so every row is resolved and none is kept);
- rules: 1,000 rules over 100 metrics × 1,000 series each, one evaluation pass (seconds);
- machine ceilings: numpy reading the 24 bytes per sample every rule reads, and writing one
  16-byte slot per sample into per-series state the size of the windows' ring buffers (the
  bare memory traffic of the targets, no rule work).

The engines do not compute identical outputs: opsengine evaluates each series once per
1-minute step (what a rule needs), the peers compute a value per sample (rolling) or per
series (group by). The comparison is "the same question answered", not the same bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from opsengine import _core

BATCH_ROWS = 1 << 20
STEP_S = 10  # seconds between samples of one series
T0_US = 1_772_445_600 * 1_000_000  # 2026-03-02T10:00Z


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` runs (the machine is shared: a best-of hides that)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_samples(n_samples: int, n_series: int, *, labels: bool = False, seed: int = 7) -> pa.Table:
    """Samples in time order: every series reports once per 10 s, in shuffled order per round."""
    rng = np.random.default_rng(seed)
    rounds = n_samples // n_series
    sid = np.concatenate([rng.permutation(n_series) for _ in range(rounds)]).astype(np.int32)
    rnd = np.repeat(np.arange(rounds, dtype=np.int64), n_series)
    jitter = rng.integers(0, STEP_S * 1_000_000, size=sid.size)
    ts = T0_US + rnd * STEP_S * 1_000_000 + jitter
    order = np.argsort(ts, kind="stable")  # arrival order: by time across series
    sid, ts = sid[order], ts[order]
    base = 50 + 40 * np.sin(sid / 7.0)
    value = base + rng.normal(0, 5, size=sid.size)
    hosts = pa.array([f"host-{i:06d}" for i in range(n_series)])
    columns = {
        "ts": pa.array(ts, pa.timestamp("us", "UTC")),
        "host": pa.DictionaryArray.from_arrays(pa.array(sid), hosts),
        "name": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(sid.size, np.int32)), pa.array(["m"])
        ),
        "value": pa.array(value),
        "sid": pa.array(sid),
    }
    table = pa.table(columns)
    if labels:
        # One label per row (cpu="0".."7"), keys and values dictionary-encoded: how pyarrow,
        # polars and the OTLP decoder hand over categorical labels.
        keys = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(sid.size, np.int32)), pa.array(["cpu"])
        )
        vals = pa.DictionaryArray.from_arrays(
            pa.array((sid % 8).astype(np.int32)), pa.array([str(i) for i in range(8)])
        )
        offsets = pa.array(np.arange(sid.size + 1, dtype=np.int32))
        table = table.append_column("labels", pa.MapArray.from_arrays(offsets, keys, vals))
    return table


def counter_from(table: pa.Table) -> pa.Table:
    """The same series as a counter (monotonic per series) named c."""
    sid = table.column("sid").to_numpy()
    inc = np.abs(table.column("value").to_numpy())
    order = np.argsort(sid, kind="stable")
    csum = np.empty_like(inc)
    sorted_sid = sid[order]
    sorted_inc = np.cumsum(inc[order])
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_sid)) + 1]
    offsets = np.repeat(sorted_inc[starts] - inc[order][starts], np.diff(np.r_[starts, sid.size]))
    csum[order] = sorted_inc - offsets
    name = pa.DictionaryArray.from_arrays(pa.array(np.zeros(sid.size, np.int32)), pa.array(["c"]))
    return table.set_column(table.schema.get_field_index("name"), "name", name).set_column(
        table.schema.get_field_index("value"), "value", pa.array(csum)
    )


def _specs(rules: list[tuple[str, str, float, float]]) -> list[_core.MetricRuleSpec]:
    return [
        {"name": n, "expr": e, "for_seconds": f, "keep_firing_for_seconds": k}
        for n, e, f, k in rules
    ]


def run_core(rules: list[tuple[str, str, float, float]], table: pa.Table) -> tuple[int, dict]:
    ev = _core.MetricEvaluator(_specs(rules))
    changes = 0
    for batch in table.drop_columns(["sid"]).to_batches(BATCH_ROWS):
        changes += ev.evaluate(batch).num_rows
    return changes, dict(ev.stats())


def bench(args: argparse.Namespace) -> dict:
    import duckdb
    import polars as pl

    n, series, repeat = args.samples, args.series, args.repeat
    results: dict[str, dict] = {}
    table = make_samples(n, series)
    mps = lambda secs: n / secs / 1e6  # noqa: E731

    def record(group: str, engine: str, secs: float, note: str = "") -> None:
        results.setdefault(group, {})[engine] = {
            "seconds": secs,
            "msamples_per_s": mps(secs),
            "note": note,
        }
        print(
            f"  {group:<22} {engine:<34} {mps(secs):>9.1f} M samples/s  ({secs:.3f} s) {note}",
            flush=True,
        )

    print(
        f"{n:,} samples over {series:,} series, batches of {BATCH_ROWS:,} rows, median of {repeat}"
    )
    threshold = [("hot", "m > 90", 300.0, 0.0)]
    changes, stats = run_core(threshold, table)
    # A correctness check before any timing: every series kept apart, no sample lost.
    assert stats["series"] == series and stats["samples"] == n, stats
    assert stats["duplicates"] == stats["invalid"] == 0, stats
    print(
        f"  (check: {stats['series']:,} series, {changes:,} alert changes, {stats['evaluations']} steps)"
    )
    record("threshold+for", "opsengine", timed(lambda: run_core(threshold, table), repeat))
    df = pl.from_arrow(table.select(["ts", "sid", "value"]))
    record("threshold", "polars count value > 90", timed(lambda: (df["value"] > 90).sum(), repeat))
    record(
        "threshold", "polars filter rows", timed(lambda: df.filter(pl.col("value") > 90), repeat)
    )
    npv = table.column("value").to_numpy()
    record("threshold", "numpy values > 90", timed(lambda: int((npv > 90).sum()), repeat))
    con = duckdb.connect()
    con.execute("SET threads = 1")
    arrow_tbl = table.select(["ts", "sid", "value"])
    con.register("samples", arrow_tbl)
    con.execute("CREATE TABLE t AS SELECT * FROM samples")
    record(
        "threshold",
        "duckdb count value > 90 (1 thr)",
        timed(lambda: con.execute("SELECT count(*) FROM t WHERE value > 90").fetchall(), repeat),
    )
    record(
        "per-series",
        "polars last+max by series",
        timed(
            lambda: df.group_by("sid").agg(
                pl.col("value").last(), pl.col("value").max().alias("mx")
            ),
            repeat,
        ),
    )
    record(
        "per-series",
        "duckdb last+max by series (1 thr)",
        timed(
            lambda: con.execute(
                "SELECT sid, last(value), max(value) FROM t GROUP BY sid"
            ).fetchall(),
            repeat,
        ),
    )
    sid = table.column("sid").to_numpy()

    def numpy_dense():
        last = np.zeros(series)
        mx = np.full(series, -np.inf)
        last[sid] = npv
        np.maximum.at(mx, sid, npv)

    record("per-series", "numpy dense ids last+max", timed(numpy_dense, repeat))

    windows = [
        ("avg_over_time 5m", [("w", "avg_over_time(m[5m]) > 85", 0.0, 0.0)], table),
        ("rate 1m", [("r", "rate(c[1m]) > 1000", 0.0, 0.0)], counter_from(table)),
        ("zscore_over_time 1h", [("z", "zscore_over_time(m[1h]) > 3", 0.0, 0.0)], table),
    ]
    for label, rules, data in windows:
        record(label, "opsengine", timed(lambda r=rules, d=data: run_core(r, d), repeat))
    record(
        "avg_over_time 5m",
        "polars sort + rolling_mean_by/series",
        timed(
            lambda: df.sort("sid", "ts").with_columns(
                pl.col("value").rolling_mean_by("ts", window_size="5m").over("sid")
            ),
            repeat,
        ),
    )
    record(
        "avg_over_time 5m",
        "duckdb window RANGE 5 min (1 thr)",
        timed(
            lambda: con.execute(
                "SELECT count(*) FROM (SELECT avg(value) OVER (PARTITION BY sid ORDER BY ts RANGE BETWEEN INTERVAL 5 MINUTES PRECEDING AND CURRENT ROW) AS a FROM t) WHERE a > 85"
            ).fetchall(),
            repeat,
        ),
    )

    labelled = make_samples(n, series, labels=True)
    record(
        "labels → series ids",
        "opsengine threshold, 1-label map (dictionary)",
        timed(lambda: run_core(threshold, labelled), repeat),
    )
    # Label sets to series ids alone: every row is resolved to its dense series id, and the
    # rule's selector matches none of them (no sample is kept, no step has work).
    record(
        "labels → series ids",
        "opsengine interning alone (dictionary)",
        timed(lambda: run_core([("none", 'm{cpu="none"} > 90', 0.0, 0.0)], labelled), repeat),
    )
    dict_map = labelled.column("labels").combine_chunks()
    lab = pa.MapArray.from_arrays(
        dict_map.offsets, dict_map.keys.cast(pa.string()), dict_map.items.cast(pa.string())
    )
    hosts = labelled.column("host").cast(pa.string()).combine_chunks()
    names = labelled.column("name").cast(pa.string()).combine_chunks()
    record(
        "labels → series ids",
        "core series_ids (store, FNV-1a)",
        timed(lambda: _core.series_ids(hosts, names, lab), repeat),
    )

    results["1000 rules"] = bench_rules(series)
    results["machine ceilings"] = bench_ceilings(table, repeat)
    return results


def bench_ceilings(table: pa.Table, repeat: int) -> dict:
    """What this machine does with the bare memory traffic of the targets, no rule work:
    reading the columns every rule reads (ts, value and the two dictionary keys: 24 bytes
    per sample), and one write per sample (its value) into its series' 16-byte slot in
    per-series state the size of a window's ring buffers, in the samples' own order."""
    n = table.num_rows
    series = int(table.column("sid").to_numpy().max()) + 1
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    value = table.column("value").to_numpy()
    host = table.column("host").combine_chunks().indices.to_numpy()
    name = table.column("name").combine_chunks().indices.to_numpy()
    sid = table.column("sid").to_numpy().astype(np.int64)
    out: dict[str, float] = {}
    secs = timed(lambda: (ts.max(), value.sum(), host.max(), name.max()), repeat)
    out["read 24 B/sample (M samples/s)"] = n / secs / 1e6
    print(
        f"  ceiling: reading ts+value+host+name (24 B/sample): {n / secs / 1e6:,.0f} M "
        f"samples/s ({24 * n / secs / 1e9:.1f} GB/s)"
    )
    rounds = np.arange(n, dtype=np.int64) // max(1, series)
    for slots, label in ((1, "newest sample"), (30, "5m of 10 s samples"), (360, "1h")):
        state = np.zeros(series * slots * 2)
        index = (sid * slots + rounds % slots) * 2
        secs = timed(lambda s=state, i=index: s.__setitem__(i, value), repeat)
        out[f"scatter {slots} slots (M samples/s)"] = n / secs / 1e6
        print(
            f"  ceiling: one write per sample into its 16-B slot, {label} per series "
            f"({series * slots * 16 / 1e6:,.1f} MB): {n / secs / 1e6:,.0f} M samples/s"
        )
    return out


def bench_rules(series: int) -> dict:
    """1,000 rules over 100 metrics × (series / 100) series: one evaluation pass, first
    (every alert is new: label sets built, changes out) and steady (alerts kept)."""
    metrics = 100
    per = max(1, series // metrics)
    n_rows = metrics * per
    one = pa.table(
        {
            "ts": pa.array(np.full(n_rows, T0_US + 30_000_000), pa.timestamp("us", "UTC")),
            "host": pa.array([f"h{i % per}" for i in range(n_rows)]).dictionary_encode(),
            "name": pa.array([f"metric_{i // per}" for i in range(n_rows)]).dictionary_encode(),
            "value": pa.array(np.random.default_rng(1).uniform(0, 100, n_rows)),
        }
    )
    rules = [(f"r{i}", f"metric_{i % metrics} > {50 + i % 50}", 600.0, 0.0) for i in range(1000)]
    ev = _core.MetricEvaluator(_specs(rules))
    ev.evaluate(one)
    started = time.perf_counter()
    first = ev.advance_to(T0_US + 60_000_000).num_rows
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    ev.advance_to(T0_US + 120_000_000)
    steady_s = time.perf_counter() - started
    print(
        f"  1000 rules × {n_rows:,} series, one pass: {first_s:.3f} s with {first:,} new "
        f"alerts, {steady_s:.3f} s steady"
    )
    return {
        "series": n_rows,
        "first_pass_s": first_s,
        "new_alerts": first,
        "steady_pass_s": steady_s,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 M samples instead of 20 M")
    p.add_argument("--samples", type=int)
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--rules-only", action="store_true", help="only the 1,000-rule pass")
    args = p.parse_args(argv)
    args.samples = args.samples or (2_000_000 if args.quick else 20_000_000)
    results = {"1000 rules": bench_rules(args.series)} if args.rules_only else bench(args)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
