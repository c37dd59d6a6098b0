"""``opsengine maintenance``: roll up metrics and apply retention now."""

from __future__ import annotations

import argparse

from opsengine.cli.common import EXIT_OK, add_store_options, open_engine


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    maint = subparsers.add_parser("maintenance", help="roll up metrics and apply retention now")
    add_store_options(maint)
    maint.set_defaults(func=cmd_maintenance)


def cmd_maintenance(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        report = engine.maintenance()
    deleted = ", ".join(f"{t} {n:,}" for t, n in report.deleted.items()) or "nothing"
    print(f"rolled up {report.rolled_up_minutes:,} metric rows into metrics_1m; deleted: {deleted}")
    return EXIT_OK
