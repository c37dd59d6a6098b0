"""The ``run`` command of the ``opsengine`` CLI: the main job (see opsengine.run).

``cli.build_parser()`` calls ``add_commands(sub)``. Exit codes: 0 stopped cleanly,
1 runtime failure (port taken, store locked), 2 bad input (settings, rule files).
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="the main job: store, rules, sources and the API on 127.0.0.1:8080"
    )
    run.add_argument("--config", metavar="FILE", help="settings (default: ./opsengine.toml)")
    run.add_argument("--db", metavar="PATH", help="the DuckDB file (default: ./opsengine.duckdb)")
    run.add_argument("--host", help="address the API listens on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, help="API port (default: 8080; 0 picks a free one)")
    run.add_argument("--server", choices=("granian", "uvicorn"), help="ASGI server")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from opsengine.config import ConfigError, load_settings
    from opsengine.rules import RuleError
    from opsengine.run import RunError, configure_logging, run
    from opsengine.store import StoreError

    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        return _failed(e, EXIT_BAD_INPUT)
    if args.db:
        settings.db = args.db
    if args.host:
        settings.api.host = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            return _failed(f"--port {args.port}: not a TCP port (0..65535)", EXIT_BAD_INPUT)
        settings.api.port = args.port
    if args.server:
        settings.api.server = args.server
    configure_logging()
    try:
        run(settings)
    except (ConfigError, RuleError) as e:
        return _failed(e, EXIT_BAD_INPUT)
    except (RunError, StoreError) as e:
        return _failed(e, EXIT_FAILURE)
    return EXIT_OK


def _failed(error: object, code: int) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code
