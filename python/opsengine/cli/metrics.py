"""``opsengine ingest metrics``: store samples from files and evaluate the metric rules.

Reads Prometheus text exposition (with sample timestamps), JSON lines, or Arrow IPC /
Parquet files; stores the samples and runs the ``kind: metric`` rules over them in event
time, so a recorded incident replayed from a file raises the alerts it raised live.
``cli/ingest.py`` calls ``add_commands(isub)`` with the ``ingest`` sub-parsers.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the file and line).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_store_options,
    fail,
    open_engine,
)


def add_commands(ingest_subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics`` under ``opsengine ingest``."""
    p = ingest_subparsers.add_parser(
        "metrics",
        help="ingest metric samples (Prometheus text, JSON lines, Arrow/Parquet) and evaluate metric rules",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    add_store_options(p, rules=True)
    p.add_argument("--host", help="host of samples that name none")
    p.add_argument(
        "--format", choices=("prometheus", "json", "arrow"),
        help="file format (default: recognised from the content and the file name)",
    )  # fmt: skip
    p.add_argument(
        "--force", action="store_true",
        help="store a file again even if the same content was stored before",
    )  # fmt: skip
    p.set_defaults(func=cmd_ingest_metrics)


def cmd_ingest_metrics(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    from opsengine.metrics.formats import MetricFormatError, read_metrics_file

    status = EXIT_OK
    total = 0
    with open_engine(args) as engine:
        before = engine.metrics.changes_published
        # Counters of this run only (the engine's start may have reloaded stored samples).
        stats_before = engine.metrics.rules.stats()
        for name in args.files:
            started = time.perf_counter()
            try:
                table = read_metrics_file(name, kind=args.format, host=args.host)
            except MetricFormatError as e:
                status = fail(e, EXIT_BAD_INPUT)
                continue
            # The same content twice would store every sample twice: it is skipped.
            key = f"metrics:file:{_content_hash(name)}"
            seen = engine.store.get_state(key)
            if seen is not None and not args.force:
                print(f"{name}: already stored ({seen}); skipped (--force stores it again)")
                continue
            note = f"{table.num_rows} samples from {name}"
            published = engine.metrics.changes_published
            rows = engine.metrics.ingest(
                table,
                source=name,
                in_transaction=lambda cur, k=key, n=note: engine.store.set_state(k, n, cur),
            )
            total += rows
            changes = engine.metrics.changes_published - published
            seconds = time.perf_counter() - started
            span = ""
            if rows:
                lo, hi = pc.min_max(table.column("ts")).values()
                span = f" from {lo.as_py():%Y-%m-%dT%H:%M:%SZ} to {hi.as_py():%Y-%m-%dT%H:%M:%SZ}"
            print(f"{name}: {rows:,} samples{span}, {changes} alert change(s) in {seconds:.2f}s")
        changes = engine.metrics.changes_published - before
        stats = engine.metrics.rules.stats()
        skipped = {
            k: stats[k] - stats_before[k]
            for k in ("duplicates", "too_old", "invalid")
            if stats[k] > stats_before[k]
        }
        if len(args.files) > 1 or skipped:
            extra = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in skipped.items())
            print(
                f"total: {total:,} samples, {changes} alert change(s)"
                + (f" ({extra} not evaluated)" if extra else "")
            )
        for rule, message in engine.metrics.rules.rule_errors().items():
            print(f"warning: rule '{rule}': {message}", file=sys.stderr)
        if changes:
            _print_alerts(engine)
    return status


def _content_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _print_alerts(engine) -> None:
    """The metric alerts as stored now, newest first (at most 20)."""
    rows = engine.query(
        "SELECT rule, state, labels, value, active_since, fired_at, resolved_at FROM alerts "
        "WHERE source = 'metric' ORDER BY updated_at DESC, rule LIMIT 20"
    ).to_pylist()
    for r in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(dict(r["labels"] or []).items()))
        when = r["resolved_at"] or r["fired_at"] or r["active_since"]
        value = "-" if r["value"] is None else f"{r['value']:g}"
        print(
            f"  {r['state']:<8} {r['rule']:<24} {{{labels}}} value={value} "
            f"at {when:%Y-%m-%dT%H:%M:%SZ}"
        )
