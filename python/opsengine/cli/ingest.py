"""``opsengine ingest logs|metrics``: load files (or stdin) into the store.

``ingest logs`` goes through ``Engine.ingest_logs`` (which also lets the threshold rules read
what was stored); ``ingest metrics`` is in ``cli/metrics.py``.
"""

from __future__ import annotations

import argparse
import sys

from opsengine.cli import metrics
from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    add_store_options,
    fail,
    open_engine,
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser("ingest", help="load data into the store")
    isub = ingest.add_subparsers(dest="ingest_command", metavar="KIND")
    metrics.add_commands(isub)
    ilogs = isub.add_parser("logs", help="ingest log files (plain or gzip; - for stdin)")
    ilogs.add_argument("files", nargs="+", metavar="FILE")
    add_store_options(ilogs, rules=True)
    ilogs.add_argument("--source", help="source name (default: the file path)")
    ilogs.add_argument("--host", help="host the lines came from (default: parsed from each line)")
    ilogs.add_argument("-v", "--verbose", action="store_true", help="print time per stage")
    ilogs.set_defaults(func=cmd_ingest_logs)


def cmd_ingest_logs(args: argparse.Namespace) -> int:
    from opsengine.ingest import IngestError
    from opsengine.ingest.logs import terminal_progress
    from opsengine.store import StoreError

    status = EXIT_OK
    total_lines = total_events = 0
    total_seconds = 0.0
    stages: dict[str, float] = {}
    with open_engine(args) as engine:
        for name in args.files:
            progress = terminal_progress() if sys.stderr.isatty() else None
            try:
                result = engine.ingest_logs(
                    sys.stdin.buffer if name == "-" else name,
                    source=args.source,
                    host=args.host,
                    progress=progress,
                )
            except IngestError as e:
                if progress:
                    sys.stderr.write("\n")
                status = fail(e, EXIT_BAD_INPUT)
                continue
            except StoreError as e:  # nothing after the last committed block is acknowledged
                if progress:
                    sys.stderr.write("\n")
                return fail(e, EXIT_FAILURE)
            if progress:
                sys.stderr.write("\n")
            skipped = (
                f", {result.skipped_lines:,} already stored (skipped)"
                if result.skipped_lines
                else ""
            )
            print(
                f"{result.source}: {result.lines:,} lines, {result.events:,} events in "
                f"{result.seconds:.2f}s ({result.lines_per_s:,.0f} lines/s){skipped}"
            )
            total_lines += result.lines
            total_events += result.events
            total_seconds += result.seconds
            for k, v in result.stages.items():
                stages[k] = stages.get(k, 0.0) + v
        if len(args.files) > 1 or args.verbose:
            rate = total_lines / total_seconds if total_seconds else 0.0
            print(f"total: {total_lines:,} lines, {total_events:,} events, {rate:,.0f} lines/s")
        if args.verbose:
            spent = sum(stages.values()) or 1.0
            print(
                "time per stage: "
                + ", ".join(f"{k} {v:.2f}s ({v / spent:.0%})" for k, v in stages.items())
            )
    return status
