"""Where the CLI's SQL runs: the database file itself, or the admin channel of the process holding it.

``open_sql_access`` opens the file read-only (or read-write with ``write=True``). When
another process holds it, reads go through that process's admin channel
(``<db path>.sock``) and ``notify`` is told so once; without a channel the lock error
stands. Both kinds of access answer with the same ``SqlResult``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from opsengine.store.admin_client import AdminChannelClient, AdminChannelUnavailableError
from opsengine.store.admin_protocol import socket_path_for
from opsengine.store.db import StoreError, StoreLockedError, connect
from opsengine.store.named_queries import NamedQuery, QueryRunError, find_query


class MissingDatabaseError(StoreError):
    """The database file named by the user does not exist."""


@dataclass(frozen=True)
class SqlResult:
    """Rows of a statement or named query; ``truncated`` when a row limit cut them."""

    table: pa.Table
    truncated: bool = False
    row_limit: int | None = None


_EMPTY = pa.table({})


class DirectSqlAccess:
    """SQL on this process's own connection to the file (read-only unless ``writable``)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path, *, writable: bool) -> None:
        self.conn = conn
        self.path = path
        self.writable = writable
        self.via = f"{path} ({'read-write' if writable else 'read-only'})"
        self.conn.execute("SET TimeZone = 'UTC'")

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> SqlResult:
        try:
            relation = self.conn.sql(sql, params=params or None)
            return SqlResult(_EMPTY if relation is None else relation.to_arrow_table())
        except duckdb.Error as e:
            if not self.writable and "read-only" in str(e):
                raise duckdb.Error(f"{e}\n(the database is open read-only; use --write)") from None
            raise

    def run_named(
        self, name: str, params: Mapping[str, Any], queries: Mapping[str, NamedQuery]
    ) -> SqlResult:
        query = find_query(queries, name)
        bound = query.bind(self.conn, params)
        try:
            return SqlResult(self.conn.sql(query.sql, params=bound).to_arrow_table())
        except duckdb.Error as e:
            raise QueryRunError(f"query {query.name} ({query.path}): {e}") from None

    def close(self) -> None:
        self.conn.close()


class ChannelSqlAccess:
    """SQL sent to the process that holds the file; only reads are accepted there."""

    writable = False

    def __init__(self, client: AdminChannelClient, holder_pid: int | None) -> None:
        self.client = client
        self.holder_pid = holder_pid
        self.via = f"admin channel {client.socket_path} (PID {holder_pid or '?'})"

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> SqlResult:
        answer = self.client.sql(sql, params)
        return SqlResult(answer.table, answer.truncated, answer.row_limit)

    def run_named(
        self, name: str, params: Mapping[str, Any], queries: Mapping[str, NamedQuery]
    ) -> SqlResult:
        find_query(queries, name)  # an unknown name is the user's mistake: say so before asking
        answer = self.client.query(name, {k: _wire_value(v) for k, v in params.items()})
        return SqlResult(answer.table, answer.truncated, answer.row_limit)

    def close(self) -> None:
        pass


SqlAccess = DirectSqlAccess | ChannelSqlAccess


def open_sql_access(
    db_path: str | Path,
    *,
    write: bool = False,
    notify: Callable[[str], None] = lambda message: None,
) -> SqlAccess:
    """Open ``db_path`` for the CLI, falling back to the holder's admin channel when locked."""
    path = Path(db_path)
    if not path.exists():
        raise MissingDatabaseError(f"{path}: no such database file")
    try:
        return DirectSqlAccess(connect(path, read_only=not write), path, writable=write)
    except StoreLockedError as locked:
        if write:
            raise StoreLockedError(
                f"{locked}; --write needs the database to itself (the admin channel only reads)"
            ) from None
        sock = socket_path_for(path)
        if not sock.exists():
            raise
        client = AdminChannelClient(sock)
        try:
            client.sql("SELECT 1")
        except AdminChannelUnavailableError as e:
            raise StoreLockedError(f"{locked}; {e}") from None
        pid = client.holder_pid or _pid_in(str(locked))
        notify(f"database held by PID {pid or '?'}; querying through its admin channel ({sock})")
        return ChannelSqlAccess(client, pid)


def _pid_in(message: str) -> int | None:
    m = re.search(r"PID (\d+)", message)
    return int(m.group(1)) if m else None


def _wire_value(value: Any) -> Any:
    """Parameter values travel as JSON: keep strings and numbers, spell the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
