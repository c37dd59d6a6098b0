"""Running user-chosen SQL (ad-hoc or a named query) so that it can only read.

Each run takes its own cursor inside a ``READ ONLY`` transaction (DuckDB refuses any
write there, whatever the SQL), is interrupted after ``timeout`` seconds, and returns at
most ``row_limit`` rows with a flag saying whether more were cut off. Ad-hoc text also
passes :func:`read_only_statements` first, for a clear message on a refused statement,
and :func:`refuse_external_reads`, so that it reads the store and not the server's files.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from opsengine.store import Store
from opsengine.store.sql_gate import WriteRefusedError, read_only_statements

DEFAULT_TIMEOUT_S = 30.0


class SqlFailed(ValueError):
    """DuckDB refused or failed the statement; the message is DuckDB's, about the SQL."""


@dataclass(frozen=True)
class ReadResult:
    table: pa.Table
    truncated: bool


def run_read_only(
    store: Store,
    relation_for: Callable[[duckdb.DuckDBPyConnection], duckdb.DuckDBPyRelation | None],
    *,
    row_limit: int,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ReadResult:
    cur = store.cursor()
    watchdog = threading.Timer(timeout, cur.interrupt)
    watchdog.daemon = True
    try:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("BEGIN TRANSACTION READ ONLY")
        watchdog.start()
        relation = relation_for(cur)
        if relation is None:
            return ReadResult(pa.table({}), False)
        table = relation.limit(row_limit + 1).to_arrow_table()
    except duckdb.InterruptException:
        raise SqlFailed(f"the statement ran longer than {timeout:g}s and was stopped") from None
    except duckdb.Error as e:
        raise SqlFailed(str(e)) from None
    finally:
        watchdog.cancel()
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        cur.close()
    truncated = table.num_rows > row_limit
    return ReadResult(table.slice(0, row_limit) if truncated else table, truncated)


# Table functions that read only the database itself; any other one (read_csv, read_text,
# glob, parquet_scan, …) reads the server's files or the network and is refused.
_STORE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "repeat_row"})
_STORE_TABLE_FUNCTION_PREFIXES = ("duckdb_", "pragma_")
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?", re.IGNORECASE)


class ExternalReadRefused(WriteRefusedError):
    """Ad-hoc SQL that would read a file or URL of the server rather than the store."""


def refuse_external_reads(cur: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
    """Refuse a statement that names a file-reading table function or a file path as a table.

    Read-only is not enough for SQL sent over HTTP: ``SELECT * FROM read_text('/etc/shadow')``
    writes nothing. DuckDB's own switch for this (``enable_external_access``) is database-wide
    and would also stop the engine, so the statement's syntax tree is checked instead.
    """
    if statement.type == duckdb.StatementType.PRAGMA:
        return  # only introspection PRAGMAs pass read_only_statements
    text = _EXPLAIN.sub("", statement.query, count=1)
    tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0])
    if tree.get("error"):
        raise ExternalReadRefused(f"the statement cannot be checked: {tree.get('error_message')}")
    for kind, name in _table_sources(tree):
        if kind == "function":
            lowered = name.lower()
            if lowered in _STORE_TABLE_FUNCTIONS or lowered.startswith(
                _STORE_TABLE_FUNCTION_PREFIXES
            ):
                continue
            raise ExternalReadRefused(
                f"table function {name}() reads files or the network; ad-hoc SQL reads the store only"
            )
        if any(c in name for c in "./\\:~"):
            raise ExternalReadRefused(
                f"{name!r} is not a table of the store (DuckDB would read it as a file)"
            )


def _table_sources(node: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            found.append(("function", str(node.get("function", {}).get("function_name", ""))))
        elif kind == "BASE_TABLE":
            found.append(("table", str(node.get("table_name", ""))))
        for value in node.values():
            found += _table_sources(value)
    elif isinstance(node, list):
        for value in node:
            found += _table_sources(value)
    return found


def adhoc_relation(sql: str, params: list | dict | None):
    """A ``relation_for`` that runs ad-hoc SQL: every statement must only read the store."""

    def relation_for(cur: duckdb.DuckDBPyConnection):
        statements = read_only_statements(cur, sql)
        for statement in statements:
            refuse_external_reads(cur, statement)
        if params and len(statements) > 1:
            raise SqlFailed("parameters need a single statement")
        for statement in statements[:-1]:
            cur.execute(statement)
        return cur.sql(statements[-1].query, params=params or None)

    return relation_for
