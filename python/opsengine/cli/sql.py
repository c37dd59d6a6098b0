"""``opsengine sql``: an SQL shell on the store (read-only unless ``--write``); the shell
itself is ``cli/sql_shell.py``."""

from __future__ import annotations

import argparse
import sys

from opsengine.cli.common import DEFAULT_DB, EXIT_BAD_INPUT, EXIT_FAILURE, CliError, notice


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    sql = subparsers.add_parser("sql", help="an SQL shell on the store (read-only unless --write)")
    sql.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help="the DuckDB file")
    sql.add_argument(
        "-c", dest="sql_command", metavar="SQL", help="run this SQL or dot command and exit"
    )
    sql.add_argument("--write", action="store_true", help="open the file read-write")
    sql.set_defaults(func=cmd_sql)


def cmd_sql(args: argparse.Namespace) -> int:
    from opsengine.cli.sql_shell import SqlShell, interact
    from opsengine.store.db import StoreError
    from opsengine.store.sql_access import MissingDatabaseError, open_sql_access

    try:
        access = open_sql_access(args.db, write=args.write, notify=notice)
    except MissingDatabaseError as e:
        raise CliError(f"--db {e}", EXIT_BAD_INPUT) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e
    shell = SqlShell(access)
    try:
        if args.sql_command is not None:
            return shell.run_command(args.sql_command)
        if sys.stdin.isatty():
            return interact(shell)
        return shell.run_script(sys.stdin)
    finally:
        access.close()
