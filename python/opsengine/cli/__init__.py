"""The ``opsengine`` command line: the parser and ``main``.

Each verb group lives in its own module here (``rules``, ``ingest``, ``metrics``, ``sql``,
``query``, ``export``, ``sources``, ``run``, ``keys``, ``incidents``, ``tickets``, ``kb``,
``config`` (with ``inventory``), ``security``, ``maintenance``, ``bench``) and registers its commands with ``add_commands(subparsers)``; ``common`` holds
the exit codes, ``open_engine``/``open_store`` and ``CliError``. A new verb is a new
``cli/<verb>.py`` with ``add_commands`` and one line in ``VERB_GROUPS``.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the place).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from opsengine.cli import (
    bench,
    config,
    demo,
    export,
    incidents,
    ingest,
    kb,
    keys,
    maintenance,
    query,
    rules,
    run,
    security,
    sources,
    sql,
    tickets,
)
from opsengine.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CliError, fail

# In the order `opsengine --help` lists them.
VERB_GROUPS = (rules, ingest, maintenance, query, sql, export, sources, run, demo, keys,
               incidents, tickets, kb, config, security, bench)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsengine",
        description="Operational-support engine: logs and metrics in; alerts, incidents, history out.",
    )
    parser.add_argument("--version", action="version", version="opsengine 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in VERB_GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return func(args)
    except CliError as e:
        return fail(e, e.code)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_OK
