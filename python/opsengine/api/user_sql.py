"""Running user-chosen SQL (ad-hoc or a named query) so that it can only read.

Each run takes its own cursor inside a ``READ ONLY`` transaction (DuckDB refuses any
write there, whatever the SQL), is interrupted after ``timeout`` seconds, and returns at
most ``row_limit`` rows with a flag saying whether more were cut off. Ad-hoc text also
passes :func:`read_only_statements` first (the gate the admin channel uses too), for a
clear message on a refused statement, a file or URL read, or a table holding secrets.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from opsengine.store import Store
from opsengine.store.sql_gate import read_only_statements

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


def adhoc_relation(sql: str, params: list | dict | None):
    """A ``relation_for`` that runs ad-hoc SQL: every statement must only read the store."""

    def relation_for(cur: duckdb.DuckDBPyConnection):
        statements = read_only_statements(cur, sql)
        if params and len(statements) > 1:
            raise SqlFailed("parameters need a single statement")
        for statement in statements[:-1]:
            cur.execute(statement)
        return cur.sql(statements[-1].query, params=params or None)

    return relation_for
