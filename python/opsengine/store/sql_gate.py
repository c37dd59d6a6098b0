"""Deciding whether SQL only reads: the gate in front of the admin channel.

Every statement is classified by DuckDB's own parser (``extract_statements`` and
its ``.type``). Allowed: SELECT (which covers SHOW, DESCRIBE, SUMMARIZE and FROM-first
queries), EXPLAIN of a SELECT, and PRAGMAs that only describe the database.
Everything else is refused. The channel also runs what passes inside a
``READ ONLY`` transaction, because a SELECT can still try to write (a
data-modifying CTE, ``nextval``); this gate gives the clear message, the
transaction is the guarantee.
"""

from __future__ import annotations

import re

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


class WriteRefusedError(ValueError):
    """A statement that is not read-only; the message names it and says what is allowed."""


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
                "the admin channel runs only SELECT, EXPLAIN and introspection PRAGMAs"
            )
    return statements


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
    return str(statement.type).rsplit(".", 1)[-1]


def _excerpt(sql: str, width: int = 60) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
