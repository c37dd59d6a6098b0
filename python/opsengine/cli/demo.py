"""``opsengine demo``: the main job with a simulated fleet (see ``opsengine.demo``).

Exit codes as ``run``: 0 stopped cleanly, 1 runtime failure (port taken, store locked),
2 bad input (settings, rule files).
"""

from __future__ import annotations

import argparse

from opsengine.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CliError, load_cli_settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job with a simulated fleet of 20 hosts (fills the dashboard)"
    )
    demo.add_argument("--db", metavar="PATH", help="the DuckDB file (default: a new temp folder)")
    demo.add_argument(
        "--config", metavar="FILE", help="settings file (default: ./opsengine.toml if present)"
    )
    demo.add_argument("--port", type=int, default=8080, help="API and dashboard port (0: free)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from opsengine.config import ConfigError
    from opsengine.demo.main import run_demo
    from opsengine.rules import RuleError
    from opsengine.run import RunError, configure_logging
    from opsengine.store import StoreError

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: not a TCP port (0..65535)", EXIT_BAD_INPUT)
    settings = load_cli_settings(args)
    settings.db = args.db or ""  # run_demo makes a fresh temporary store when empty
    settings.api.port = args.port
    configure_logging()
    try:
        run_demo(settings)
    except (ConfigError, RuleError) as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    except (RunError, StoreError) as e:
        raise CliError(e, EXIT_FAILURE) from e
    return EXIT_OK
