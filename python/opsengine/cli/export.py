"""``opsengine export``: write history as date-partitioned Parquet (DIR/<table>/date=…/)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from opsengine.cli.common import DEFAULT_DB, EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CliError

# Spelled here rather than imported so that building the CLI parser does not load DuckDB;
# tests check they match store.export.ROW_TIME.
EXPORTABLE_TABLES = ("logs", "events", "metrics", "metrics_1m")
DEFAULT_EXPORT_TABLES = ("logs", "events", "metrics")
_RELATIVE_DAY_ARGUMENT = re.compile(r"^-\d+(?:\.\d+)?(?:[smhdw]|ms)?(?:\d+(?:[smhdw]|ms))*$")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
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


def cmd_export(args: argparse.Namespace) -> int:
    from opsengine.store.db import StoreError, StoreLockedError, connect
    from opsengine.store.export import NO_DATE_PARTITION, ROW_TIME, export_history
    from opsengine.store.param_values import convert_param_value

    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in tables if t not in ROW_TIME]
    if unknown or not tables:
        raise CliError(
            f"--tables {args.tables!r}: unknown {', '.join(unknown) or 'empty list'} "
            f"(exportable: {', '.join(ROW_TIME)})",
            EXIT_BAD_INPUT,
        )
    since = None
    if args.since:
        try:
            since = convert_param_value("DATE", args.since)
        except ValueError as e:
            raise CliError(f"--since: {e}", EXIT_BAD_INPUT) from e
    db = Path(args.db)
    if not db.exists():
        raise CliError(f"--db {db}: no such database file", EXIT_BAD_INPUT)
    try:
        conn = connect(db, read_only=True)
    except StoreLockedError as e:
        raise CliError(
            f"{e}\nexport reads the file itself; stop the holder first "
            "(its admin channel answers queries only)",
            EXIT_FAILURE,
        ) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e
    try:
        conn.execute("SET TimeZone = 'UTC'")
        results = export_history(conn, args.to, tables, since)
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e
    finally:
        conn.close()
    for r in results:
        dates = [d if d != NO_DATE_PARTITION else "(no date)" for d in r.dates]
        span = (
            f" ({dates[0]} … {dates[-1]})" if len(dates) > 1 else f" ({dates[0]})" if dates else ""
        )
        print(f"{r.table}: {r.rows} rows in {len(dates)} date partition(s){span} → {r.folder}")
    return EXIT_OK
