"""``opsengine query``: run a named query (``queries/*.sql``) and print or write its result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from opsengine.cli.common import (
    DEFAULT_DB,
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    notice,
)
from opsengine.cli.result_format import ALL_FORMATS

if TYPE_CHECKING:
    from opsengine.store.sql_access import SqlResult


def add_commands(subparsers: argparse._SubParsersAction) -> None:
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


def cmd_query(args: argparse.Namespace) -> int:
    from opsengine.cli.sql_shell import describe_queries, parse_param_assignments
    from opsengine.store.db import StoreError
    from opsengine.store.named_queries import QueryError, find_query, load_queries
    from opsengine.store.sql_access import MissingDatabaseError, open_sql_access

    try:
        queries = load_queries()
    except QueryError as e:
        raise CliError(e, EXIT_FAILURE) from e
    if args.list:
        sys.stdout.write(describe_queries(queries))
        return EXIT_OK
    if not args.name:
        raise CliError("query: give a query NAME, or --list to see them", EXIT_BAD_INPUT)
    if args.format == "parquet" and not args.out:
        raise CliError("query: --format parquet needs --out FILE", EXIT_BAD_INPUT)
    try:
        params = parse_param_assignments(args.param, place="--param")
        find_query(queries, args.name).convert_values(params)
    except QueryError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    try:
        access = open_sql_access(args.db, notify=notice)
    except MissingDatabaseError as e:
        raise CliError(f"--db {e}", EXIT_BAD_INPUT) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e
    try:
        result = access.run_named(args.name, params, queries)
    except QueryError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e
    finally:
        access.close()
    return write_result(result, args.format, args.out)


def write_result(result: SqlResult, fmt: str, out: str | None) -> int:
    """Print ``result`` in ``fmt`` (or write it to ``out``; parquet always goes to a file)."""
    from opsengine.cli.result_format import render, write_parquet

    try:
        if fmt == "parquet":
            write_parquet(result.table, out)
            notice(f"wrote {result.table.num_rows} rows to {out}")
        elif out:
            Path(out).write_text(render(result.table, fmt), encoding="utf-8")
        else:
            sys.stdout.write(render(result.table, fmt))
    except OSError as e:
        raise CliError(f"--out {out}: cannot write: {e.strerror or e}", EXIT_FAILURE) from e
    if result.truncated:
        notice(f"result truncated at {result.row_limit:,} rows by the admin channel")
    return EXIT_OK
