"""``opsengine run``: the main job (see ``opsengine.run``).

Exit codes: 0 stopped cleanly, 1 runtime failure (port taken, store locked), 2 bad input
(settings, rule files).
"""

from __future__ import annotations

import argparse

from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    add_store_options,
    load_cli_settings,
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="the main job: store, rules, sources and the API on 127.0.0.1:8080"
    )
    add_store_options(run)
    run.add_argument("--host", help="address the API listens on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, help="API port (default: 8080; 0 picks a free one)")
    run.add_argument("--server", choices=("granian", "uvicorn"), help="ASGI server")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from opsengine.config import ConfigError
    from opsengine.rules import RuleError
    from opsengine.run import RunError, configure_logging, run
    from opsengine.store import StoreError

    settings = load_cli_settings(args)
    if args.db:
        settings.db = args.db
    if args.host:
        settings.api.host = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise CliError(f"--port {args.port}: not a TCP port (0..65535)", EXIT_BAD_INPUT)
        settings.api.port = args.port
    if args.server:
        settings.api.server = args.server
    configure_logging()
    try:
        run(settings)
    except (ConfigError, RuleError) as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    except (RunError, StoreError) as e:
        raise CliError(e, EXIT_FAILURE) from e
    return EXIT_OK
