"""The ``query``, ``sql`` and ``export`` commands of the ``opsengine`` CLI.

``cli.build_parser()`` calls ``add_commands(sub)``. Exit codes: 0 ok, 1 runtime
failure, 2 bad input (the message names the place). ``python -m opsengine.sql_cli``
runs these commands on their own.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsengine.result_format import ALL_FORMATS

if TYPE_CHECKING:
    from opsengine.store.sql_access import SqlResult

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
# Spelled here rather than imported so that building the CLI parser does not load DuckDB;
# tests check they match store.DEFAULT_DB and store.export.ROW_TIME.
DEFAULT_DB = "opsengine.duckdb"
EXPORTABLE_TABLES = ("logs", "events", "metrics", "metrics_1m")
DEFAULT_EXPORT_TABLES = ("logs", "events", "metrics")
_RELATIVE_DAY_ARGUMENT = re.compile(r"^-\d+(?:\.\d+)?(?:[smhdw]|ms)?(?:\d+(?:[smhdw]|ms))*$")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``query``, ``sql`` and ``export`` on the CLI's subcommand parsers."""
    query = subparsers.add_parser(
        "query", help="run a named query (opsengine query --list shows them)"
    )
    query.add_argument("name", nargs="?", metavar="NAME", help="the named query to run")
    query.add_argument("--list", action="store_true", help="list the named queries and exit")
    query.add_argument(
        "--param", "-p", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter value (repeatable); times take ISO-8601, now, today or -7d",
    )  # fmt: skip
    query.add_argument("--format", "-f", choices=ALL_FORMATS, default="table")
    query.add_argument("--out", "-o", metavar="FILE", help="write here (needed for parquet)")
    query.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help="the DuckDB file")
    query.set_defaults(func=cmd_query)

    sql = subparsers.add_parser("sql", help="an SQL shell on the store (read-only unless --write)")
    sql.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help="the DuckDB file")
    sql.add_argument(
        "-c", dest="sql_command", metavar="SQL", help="run this SQL or dot command and exit"
    )
    sql.add_argument("--write", action="store_true", help="open the file read-write")
    sql.set_defaults(func=cmd_sql)

    export = subparsers.add_parser(
        "export", help="write history as date-partitioned Parquet (DIR/<table>/date=…/)"
    )
    export.add_argument("--to", required=True, metavar="DIR", help="the export folder")
    export.add_argument(
        "--since", metavar="DATE|-7d", help="from this UTC day on (default: everything)"
    )
    export.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help="the DuckDB file")
    export.add_argument(
        "--tables", default=",".join(DEFAULT_EXPORT_TABLES), metavar="T1,T2",
        help=f"which tables (of {', '.join(EXPORTABLE_TABLES)}); default %(default)s",
    )  # fmt: skip
    export.set_defaults(func=cmd_export)
    # Let "--since -7d" read -7d as a value, as argparse already does for "-7".
    if hasattr(export, "_negative_number_matcher"):
        export._negative_number_matcher = _RELATIVE_DAY_ARGUMENT


# -- query -----------------------------------------------------------------
def cmd_query(args: argparse.Namespace) -> int:
    from opsengine.sql_shell import describe_queries, parse_param_assignments
    from opsengine.store.db import StoreError
    from opsengine.store.queries import QueryError, find_query, load_queries
    from opsengine.store.sql_access import MissingDatabaseError, open_sql_access

    try:
        queries = load_queries()
    except QueryError as e:
        return _failed(e, EXIT_FAILURE)
    if args.list:
        sys.stdout.write(describe_queries(queries))
        return EXIT_OK
    if not args.name:
        return _failed("query: give a query NAME, or --list to see them", EXIT_BAD_INPUT)
    if args.format == "parquet" and not args.out:
        return _failed("query: --format parquet needs --out FILE", EXIT_BAD_INPUT)
    try:
        params = parse_param_assignments(args.param, place="--param")
        find_query(queries, args.name).convert_values(params)
    except QueryError as e:
        return _failed(e, EXIT_BAD_INPUT)
    try:
        access = open_sql_access(args.db, notify=_notice)
    except MissingDatabaseError as e:
        return _failed(f"--db {e}", EXIT_BAD_INPUT)
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    try:
        result = access.run_named(args.name, params, queries)
    except QueryError as e:
        return _failed(e, EXIT_BAD_INPUT)
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    finally:
        access.close()
    return _write_result(result, args.format, args.out)


def _write_result(result: SqlResult, fmt: str, out: str | None) -> int:
    from opsengine.result_format import render, write_parquet

    try:
        if fmt == "parquet":
            write_parquet(result.table, out)
            _notice(f"wrote {result.table.num_rows} rows to {out}")
        elif out:
            Path(out).write_text(render(result.table, fmt), encoding="utf-8")
        else:
            sys.stdout.write(render(result.table, fmt))
    except OSError as e:
        return _failed(f"--out {out}: cannot write: {e.strerror or e}", EXIT_FAILURE)
    if result.truncated:
        _notice(f"result truncated at {result.row_limit:,} rows by the admin channel")
    return EXIT_OK


# -- sql -------------------------------------------------------------------
def cmd_sql(args: argparse.Namespace) -> int:
    from opsengine.sql_shell import SqlShell, interact
    from opsengine.store.db import StoreError
    from opsengine.store.sql_access import MissingDatabaseError, open_sql_access

    try:
        access = open_sql_access(args.db, write=args.write, notify=_notice)
    except MissingDatabaseError as e:
        return _failed(f"--db {e}", EXIT_BAD_INPUT)
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    shell = SqlShell(access)
    try:
        if args.sql_command is not None:
            return shell.run_command(args.sql_command)
        if sys.stdin.isatty():
            return interact(shell)
        return shell.run_script(sys.stdin)
    finally:
        access.close()


# -- export ----------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from opsengine.store.db import StoreError, StoreLockedError, connect
    from opsengine.store.export import NO_DATE_PARTITION, ROW_TIME, export_history
    from opsengine.store.param_values import convert_param_value

    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in tables if t not in ROW_TIME]
    if unknown or not tables:
        return _failed(
            f"--tables {args.tables!r}: unknown {', '.join(unknown) or 'empty list'} "
            f"(exportable: {', '.join(ROW_TIME)})",
            EXIT_BAD_INPUT,
        )
    since = None
    if args.since:
        try:
            since = convert_param_value("DATE", args.since)
        except ValueError as e:
            return _failed(f"--since: {e}", EXIT_BAD_INPUT)
    db = Path(args.db)
    if not db.exists():
        return _failed(f"--db {db}: no such database file", EXIT_BAD_INPUT)
    try:
        conn = connect(db, read_only=True)
    except StoreLockedError as e:
        return _failed(
            f"{e}\nexport reads the file itself; stop the holder first "
            "(its admin channel answers queries only)",
            EXIT_FAILURE,
        )
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        results = export_history(conn, args.to, tables, since)
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    finally:
        conn.close()
    for r in results:
        dates = [d if d != NO_DATE_PARTITION else "(no date)" for d in r.dates]
        span = (
            f" ({dates[0]} … {dates[-1]})" if len(dates) > 1 else f" ({dates[0]})" if dates else ""
        )
        print(f"{r.table}: {r.rows} rows in {len(dates)} date partition(s){span} → {r.folder}")
    return EXIT_OK


# -- shared ----------------------------------------------------------------
def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _failed(error: object, code: int) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code
