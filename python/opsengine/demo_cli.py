"""The ``demo`` command of the ``opsengine`` CLI (see opsengine.demo).

``cli.build_parser()`` calls ``add_commands(sub)``. Exit codes as ``run``: 0 stopped
cleanly, 1 runtime failure (port taken), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job with a simulated fleet of 20 hosts (fills the dashboard)"
    )
    demo.add_argument("--db", metavar="PATH", help="the DuckDB file (default: a new temp folder)")
    demo.add_argument("--port", type=int, default=8080, help="API and dashboard port (0: free)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from opsengine.config import ConfigError, Settings
    from opsengine.demo.main import run_demo
    from opsengine.run import RunError, configure_logging
    from opsengine.store import StoreError

    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port}: not a TCP port (0..65535)", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = Settings()
    if args.db:
        settings.db = args.db
    settings.api.port = args.port
    configure_logging()
    try:
        run_demo(settings)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RunError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
