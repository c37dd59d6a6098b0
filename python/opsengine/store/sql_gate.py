"""Deciding whether SQL only reads the store: the one gate in front of user SQL, for
``POST /api/v1/sql`` and the admin channel (``opsengine sql`` against a running engine).

Every statement is classified by DuckDB's own parser (``extract_statements`` and
its ``.type``). Allowed: SELECT (which covers SHOW, DESCRIBE, SUMMARIZE and FROM-first
queries), EXPLAIN of a SELECT, and PRAGMAs that only describe the database.
Everything else is refused. What passes runs inside a ``READ ONLY`` transaction,
because a SELECT can still try to write (a data-modifying CTE, ``nextval``); this gate
gives the clear message, the transaction is the guarantee.

Read-only is not enough: ``SELECT * FROM read_text('/etc/shadow')`` writes nothing. Each
statement's syntax tree (``json_serialize_sql``) is also checked for table functions that
read files or the network (``read_csv``, ``read_text``, ``glob``, …), for file paths and
URLs used as tables (``FROM 'https://…'``), and for the tables that hold secrets
(``api_keys``, ``notification_channels``), whose redacted views are named instead.
DuckDB's ``enable_external_access`` switch would do the first part database-wide, but the
engine itself reads and writes files (exports, history), so the statements are checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

INTROSPECTION_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "functions",
        "metadata_info",
        "platform",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)

_PRAGMA_NAME = re.compile(r"^\s*pragma\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
_EXPLAIN_PREFIX = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+|\([^)]*\)\s*)?", re.IGNORECASE)


# Table functions that read only the database itself; any other one (read_csv, read_text,
# glob, parquet_scan, …) reads the server's files or the network and is refused.
_STORE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "repeat_row"})
_STORE_TABLE_FUNCTION_PREFIXES = ("duckdb_", "pragma_")
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?", re.IGNORECASE)
#: Tables holding secrets (token hashes, channel credentials) → the view to read instead.
SECRET_TABLES = {
    "api_keys": "api_keys_public",
    "notification_channels": "notification_channels_public",
}


class WriteRefusedError(ValueError):
    """A statement that is not read-only; the message names it and says what is allowed."""


class ExternalReadRefused(WriteRefusedError):
    """SQL that would read a file or URL of the server, or a table of secrets."""


def read_only_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """The statements of ``sql`` if every one only reads; raises WriteRefusedError otherwise."""
    statements = con.extract_statements(sql)
    if not statements:
        raise WriteRefusedError("no SQL statement given")
    for number, statement in enumerate(statements, start=1):
        reason = _refusal(con, statement)
        if reason:
            where = f"statement {number}" if len(statements) > 1 else "the statement"
            raise WriteRefusedError(
                f"{where} ({_excerpt(statement.query)}) was refused: {reason}; "
                "only SELECT, EXPLAIN and introspection PRAGMAs run here"
            )
        refuse_external_reads(con, statement)
    return statements


def refuse_external_reads(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
    """Refuse a statement that reads a file, a URL or a table of secrets (see the module)."""
    if statement.type == duckdb.StatementType.PRAGMA:
        return  # only introspection PRAGMAs pass _refusal
    text = _EXPLAIN.sub("", statement.query, count=1)
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0])
    if tree.get("error"):
        raise ExternalReadRefused(f"the statement cannot be checked: {tree.get('error_message')}")
    for kind, name in _table_sources(tree):
        lowered = name.lower()
        if kind == "function":
            if lowered in _STORE_TABLE_FUNCTIONS or lowered.startswith(
                _STORE_TABLE_FUNCTION_PREFIXES
            ):
                continue
            raise ExternalReadRefused(
                f"table function {name}() reads files or the network; SQL here reads the store only"
            )
        if any(c in name for c in "./\\:~"):
            raise ExternalReadRefused(
                f"{name[:80]!r} is not a table of the store (DuckDB would read it as a file or URL)"
            )
        if lowered in SECRET_TABLES:
            raise ExternalReadRefused(
                f"table {name} holds secrets; read the view {SECRET_TABLES[lowered]} instead"
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


def _refusal(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    kind = statement.type
    if kind == duckdb.StatementType.SELECT:
        return None
    if kind == duckdb.StatementType.EXPLAIN:
        inner_text = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
        try:
            inner = con.extract_statements(inner_text)
        except duckdb.Error:
            return "EXPLAIN of a statement that does not parse"
        if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
            return None
        return f"EXPLAIN {_kind_name(inner[0]) if inner else 'of nothing'} is not read-only"
    if kind == duckdb.StatementType.PRAGMA:
        m = _PRAGMA_NAME.match(statement.query)
        if m and m.group(1).lower() in INTROSPECTION_PRAGMAS:
            return None
        return f"PRAGMA {m.group(1) if m else '?'} is not an introspection pragma"
    return f"{_kind_name(statement)} statements are not read-only"


def _kind_name(statement: duckdb.Statement) -> str:
    kind = str(statement.type).rsplit(".", 1)[-1]
    if kind == "LOAD" and re.match(r"^\s*(?:force\s+)?install\b", statement.query, re.I):
        return "INSTALL"  # DuckDB files INSTALL and LOAD under one statement type
    return kind


def _excerpt(sql: str, width: int = 60) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
