#!/usr/bin/env python3
"""Template mining: opsengine's streaming miner against Drain3, on the 16 loghub datasets.

For every dataset in ``<data>/loghub/<Name>/<Name>_2k.log_structured.csv`` the ``Content``
column is mined line by line in file order, and the grouping accuracy of the ids returned
while streaming is computed against the ground-truth ``EventId`` column (a line is correct
when the set of lines given its predicted id equals the set of lines sharing its EventId).

Peers measured in the same run:
  * ``drain3-default``  Drain3 with ``TemplateMinerConfig()`` (sim_th 0.4, depth 4, no masking)
  * ``drain3-masked``   Drain3 with the masking/extra-delimiter config of its example ``drain3.ini``

Ours is measured when ``opsengine._core.TemplateMiner`` can be imported (the PyO3 binding,
timed through a Python loop, so it includes the per-call overhead), and/or taken from the
Rust core itself: ``--ours-cargo`` runs the ignored speed test of ``core/tests/loghub_templates.rs``
(release build) which mines the same corpus and writes its numbers as JSON; ``--ours-json``
reads such a file written earlier::

    TEMPLATES_BENCH_JSON=ours.json cargo test --release --test loghub_templates -- --ignored --nocapture
    python -m opsengine.bench.templates_vs_drain3 --ours-json ours.json      # or: --ours-cargo

Speed: all 16 Content columns are concatenated and replicated to ``--speed-lines`` lines
(1,000,000 by default) and each miner is timed on them, one thread, median of ``--runs``
runs. Rates are lines per CPU second of the mining thread (``time.thread_time``; the Rust
side reads the same clock), so they are per core and hold on a shared machine; wall-clock
rates are printed beside them. Drain3 is slow: ``--drain3-speed-lines`` mines a prefix of the
same corpus instead of all of it.

Cite the loghub paper where the data is used (see loghub/CITATION).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from opsengine.bench.corpus import DATASETS

# Drain3's example drain3.ini (masking section and Drain parameters), verbatim.
DRAIN3_EXAMPLE_MASKING = [
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)",
        "mask_with": "ID",
    },
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)",
        "mask_with": "IP",
    },
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)",
        "mask_with": "SEQ",
    },
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)",
        "mask_with": "SEQ",
    },
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)",
        "mask_with": "HEX",
    },
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "mask_with": "NUM"},
    {"regex_pattern": r"(?<=executed cmd )(\".+?\")", "mask_with": "CMD"},
]


def default_data_dir() -> Path:
    here = Path(__file__).resolve().parents[3]  # the checkout: python/opsengine/bench/ → root
    return here.parent / "shared" / "data" / "loghub"


def read_structured(path: Path) -> tuple[list[str], list[str]]:
    contents, events = [], []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            contents.append(row["Content"])
            events.append(row["EventId"])
    return contents, events


def grouping_accuracy(predicted: list, truth: list) -> float:
    by_pred: dict = defaultdict(set)
    by_true: dict = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        by_pred[p].add(i)
        by_true[t].add(i)
    correct = 0
    for members in by_true.values():
        preds = {predicted[i] for i in members}
        if len(preds) == 1 and by_pred[next(iter(preds))] == members:
            correct += len(members)
    return correct / len(truth) if truth else 0.0


def drain3_miner(kind: str):
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    if kind == "masked":
        config.masking_instructions = [
            MaskingInstruction(m["regex_pattern"], m["mask_with"]) for m in DRAIN3_EXAMPLE_MASKING
        ]
        config.mask_prefix = "<:"
        config.mask_suffix = ":>"
        config.drain_sim_th = 0.4
        config.drain_depth = 4
        config.drain_max_children = 100
        config.drain_max_clusters = 1024
        config.drain_extra_delimiters = ["_"]
    miner = TemplateMiner(persistence_handler=None, config=config)

    def mine(lines):
        add = miner.add_log_message
        return [add(line)["cluster_id"] for line in lines]

    return mine


def ours_miner():
    try:
        from opsengine import TemplateMiner
    except Exception:  # the package is not built
        return None
    miner = TemplateMiner()

    def mine(lines):
        # One call for the whole batch: the core mines an Arrow array, no Python loop per line.
        return miner.mine(lines).to_pylist()

    return mine


def timed(mine, lines):
    """(ids, CPU seconds of this thread, wall seconds)"""
    c0, t0 = time.thread_time(), time.perf_counter()
    ids = mine(lines)
    return ids, time.thread_time() - c0, time.perf_counter() - t0


def run_cargo_speed_test(repo: Path, data: Path) -> dict | None:
    """Run the Rust speed report (release build) and return its JSON, or None."""
    out = Path(tempfile.mkdtemp()) / "ours.json"
    env = dict(os.environ, TEMPLATES_BENCH_JSON=str(out), OPSENGINE_LOGHUB_DIR=str(data))
    cmd = [
        "cargo",
        "test",
        "--release",
        "--test",
        "loghub_templates",
        "--",
        "--ignored",
        "--nocapture",
        "loghub_speed_report",
    ]
    print(f"running: {' '.join(cmd)} (in {repo / 'core'})", flush=True)
    try:
        subprocess.run(cmd, cwd=repo / "core", env=env, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"cargo speed test failed: {e}")
        return None
    return json.loads(out.read_text()) if out.exists() else None


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=default_data_dir(), help="the loghub folder")
    ap.add_argument(
        "--ours-json",
        type=Path,
        help="results written by the Rust speed test (TEMPLATES_BENCH_JSON)",
    )
    ap.add_argument(
        "--ours-cargo", action="store_true", help="run the Rust speed test now (cargo, release)"
    )
    ap.add_argument("--speed-lines", type=int, default=1_000_000)
    ap.add_argument(
        "--drain3-speed-lines",
        type=int,
        default=None,
        help="mine only this many lines of the speed corpus with Drain3 (default: all)",
    )
    ap.add_argument("--runs", type=int, default=3, help="speed runs per miner (median is reported)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, help="write all results as JSON here")
    args = ap.parse_args()

    if not args.data.is_dir():
        print(f"SKIP: loghub data not found at {args.data}")
        return 0

    ours_json = json.loads(args.ours_json.read_text()) if args.ours_json else None
    if args.ours_cargo:
        ours_json = (
            run_cargo_speed_test(Path(__file__).resolve().parents[3], args.data) or ours_json
        )
    have_binding = ours_miner() is not None
    peers = ["drain3-default", "drain3-masked"]
    results: dict = {"accuracy": {}, "speed": {}}

    corpus: list[str] = []
    header = f"{'dataset':<12} {'ours':>7} {'drain3-default':>15} {'drain3-masked':>14}"
    print(header)
    print("-" * len(header))
    sums = defaultdict(float)
    for name in DATASETS:
        path = args.data / name / f"{name}_2k.log_structured.csv"
        if not path.exists():
            print(f"{name:<12} missing ({path})")
            continue
        lines, truth = read_structured(path)
        corpus.extend(lines)
        row = {}
        for peer in peers:
            kind = peer.split("-", 1)[1]
            ids, _, _ = timed(drain3_miner(kind), lines)
            row[peer] = grouping_accuracy(ids, truth)
        if have_binding:
            ids, _, _ = timed(ours_miner(), lines)
            row["ours"] = grouping_accuracy(ids, truth)
        elif ours_json and name in ours_json.get("accuracy", {}):
            row["ours"] = float(ours_json["accuracy"][name])
        for k, v in row.items():
            sums[k] += v
        results["accuracy"][name] = row
        ours_s = f"{row['ours']:.4f}" if "ours" in row else "n/a"
        print(
            f"{name:<12} {ours_s:>7} {row['drain3-default']:>15.4f} {row['drain3-masked']:>14.4f}"
        )
    n = len(results["accuracy"])
    if n:
        avg = {k: v / n for k, v in sums.items()}
        results["accuracy"]["average"] = avg
        ours_s = f"{avg['ours']:.4f}" if "ours" in avg else "n/a"
        print("-" * len(header))
        print(
            f"{'average':<12} {ours_s:>7} {avg['drain3-default']:>15.4f} {avg['drain3-masked']:>14.4f}"
        )
    if not have_binding and not ours_json:
        print("(ours: opsengine._core.TemplateMiner not importable and no --ours-json given)")

    if not args.no_speed and corpus:
        reps = (args.speed_lines + len(corpus) - 1) // len(corpus)
        speed_corpus = (corpus * reps)[: args.speed_lines]
        d3_lines = (
            speed_corpus[: args.drain3_speed_lines] if args.drain3_speed_lines else speed_corpus
        )
        print(
            f"\nspeed: {len(speed_corpus):,} lines ({len(corpus):,} Content lines replicated), "
            f"median of {args.runs} runs, one thread; lines per CPU second (wall in brackets)"
        )

        def measure(name, make, lines):
            cpu, wall = [], []
            for _ in range(args.runs):
                _, dc, dt = timed(make(), lines)
                cpu.append(len(lines) / dc)
                wall.append(len(lines) / dt)
            results["speed"][name] = statistics.median(cpu)
            results["speed"][name + " (wall)"] = statistics.median(wall)
            print(
                f"  {name:<20} {statistics.median(cpu):>12,.0f} lines/s  "
                f"({statistics.median(wall):,.0f} wall; {len(lines):,} lines)",
                flush=True,
            )

        for peer in peers:
            kind = peer.split("-", 1)[1]
            measure(peer, lambda kind=kind: drain3_miner(kind), d3_lines)
        if have_binding:
            measure("ours (one batch call)", ours_miner, speed_corpus)
        if ours_json and "lines_per_s" in ours_json:
            results["speed"]["ours (rust)"] = float(ours_json["lines_per_s"])
            print(
                f"  {'ours (rust core)':<20} {results['speed']['ours (rust)']:>12,.0f} lines/s  "
                f"({float(ours_json.get('lines_per_s_wall', 0)):,.0f} wall)"
            )
            for key, label in (
                ("synthetic_10k_lines_per_s", "10,000 templates"),
                ("synthetic_10k_users_lines_per_s", "10,000 templates + user names"),
            ):
                if key in ours_json:
                    print(f"  {'ours, ' + label:<20} {float(ours_json[key]):>12,.0f} lines/s")
        for ours in ("ours (rust)", "ours (python loop)"):
            if ours in results["speed"]:
                for peer in peers:
                    ratio = results["speed"][ours] / results["speed"][peer]
                    print(f"  {ours} / {peer}: {ratio:.1f}x")

    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
