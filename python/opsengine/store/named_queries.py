"""The named-query registry: SQL files with a header of name, description and typed parameters.

A query file starts with comment lines, then one read-only SQL statement::

    -- name: top_rules
    -- description: Events by rule over a time range
    -- param: from TIMESTAMPTZ = now() - INTERVAL 7 DAY -- start of the range
    -- param: limit INTEGER = 20 -- how many rules
    SELECT ... WHERE ts >= $from ... LIMIT $limit

Parameters are always bound by DuckDB as named parameters, never formatted into
the text. Values typed by a user arrive as strings and are converted by the
parameter's type (see ``param_values``); a default is an SQL expression from the
shipped file, evaluated by DuckDB once at bind time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from opsengine.store.db import Store, StoreError
from opsengine.store.param_values import PARAM_TYPES, convert_param_value

SHIPPED_QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"

_HEADER_LINE = re.compile(r"^--\s*(?P<key>[a-z_]+)\s*:\s*(?P<value>.*?)\s*$")
_PARAM_SPEC = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s+(?P<type>[A-Za-z]+)"
    r"(?:\s*=\s*(?P<default>.*?))?\s*(?:--\s*(?P<help>.*?))?\s*$"
)
_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class QueryError(ValueError):
    """Bad input for a named query (unknown name, unknown or bad parameter): the user's to fix."""


class QueryFileError(QueryError):
    """A query file that cannot be used; the message names the file and line."""


class QueryRunError(StoreError):
    """A named query failed while DuckDB ran it; the message names the query."""


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter: its name, DuckDB type, default SQL expression and help."""

    name: str
    type: str
    default: str | None
    help: str
    line: int

    def describe(self) -> str:
        default = f" = {self.default}" if self.default is not None else " (required)"
        help_text = f"  {self.help}" if self.help else ""
        return f"{self.name} {self.type}{default}{help_text}"


@dataclass(frozen=True)
class NamedQuery:
    """A shipped (or extra) SQL file: one read-only statement with typed ``$name`` parameters."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    sql: str
    path: Path

    def param(self, name: str) -> QueryParam | None:
        return next((p for p in self.params if p.name == name), None)

    def convert_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The given values converted by their parameters' types; unknown names are refused."""
        unknown = sorted(set(values) - {p.name for p in self.params})
        if unknown:
            known = ", ".join(p.name for p in self.params) or "none"
            raise QueryError(
                f"query {self.name}: unknown parameter {', '.join(map(repr, unknown))} "
                f"(parameters: {known})"
            )
        now = datetime.now(UTC)
        converted: dict[str, Any] = {}
        for p in self.params:
            if p.name in values:
                try:
                    converted[p.name] = convert_param_value(p.type, values[p.name], now=now)
                except ValueError as e:
                    raise QueryError(f"query {self.name}: parameter {p.name!r}: {e}") from None
        return converted

    def bind(self, conn: duckdb.DuckDBPyConnection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Named-parameter values for DuckDB: given values converted, defaults evaluated."""
        given = self.convert_values(values)
        bound: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                bound[p.name] = given[p.name]
            elif p.default is not None:
                bound[p.name] = evaluate_default(conn, p, self.path)
            else:
                hint = f" ({p.help})" if p.help else ""
                raise QueryError(
                    f"query {self.name}: parameter {p.name!r} is required{hint}; "
                    f"give it a value: {p.name}=…"
                )
        return bound


def evaluate_default(conn: duckdb.DuckDBPyConnection, param: QueryParam, path: Path) -> Any:
    """The value of a default expression, computed by DuckDB and cast to the parameter's type."""
    # The expression comes from a query file (shipped, or a folder the operator added), never
    # from command-line or channel input, so it may be SQL text; values are always bound.
    sql = f"SELECT CAST(({param.default}) AS {param.type})"
    try:
        row = conn.sql(sql).fetchall()[0]
    except duckdb.Error as e:
        raise QueryFileError(
            f"{path}:{param.line}: default of parameter {param.name!r} "
            f"({param.default}) does not evaluate: {e}"
        ) from None
    return row[0]


def parse_query_file(
    path: Path, text: str | None = None, *, checker: duckdb.DuckDBPyConnection | None = None
) -> NamedQuery:
    """Read one query file; header errors name the file and line.

    ``checker`` is an in-memory connection used to parse the SQL and try the defaults.
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise QueryFileError(f"{path}: cannot read: {e.strerror or e}") from None
    name = ""
    descriptions: list[str] = []
    params: list[QueryParam] = []
    lines = text.splitlines()
    body_start = len(lines)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            body_start = number - 1
            break
        m = _HEADER_LINE.match(stripped)
        if not m:
            continue  # a free comment line in the header
        key, value = m.group("key"), m.group("value")
        if key == "name":
            if name:
                raise QueryFileError(f"{path}:{number}: a second 'name:' line")
            if not _QUERY_NAME.match(value):
                raise QueryFileError(
                    f"{path}:{number}: query name {value!r} must be lower_case letters, "
                    "digits and underscores"
                )
            name = value
        elif key == "description":
            descriptions.append(value)
        elif key == "param":
            params.append(_parse_param(path, number, value, params))
        else:
            raise QueryFileError(
                f"{path}:{number}: unknown header key {key!r} (expected name, description, param)"
            )
    if not name:
        raise QueryFileError(f"{path}:1: the header has no '-- name: …' line")
    sql = "\n".join(lines[body_start:]).strip().rstrip(";").strip()
    if not sql:
        raise QueryFileError(f"{path}:{body_start + 1}: no SQL after the header")
    query = NamedQuery(name, " ".join(descriptions), tuple(params), sql, path)
    if checker is not None:
        _check_body(query, body_start + 1, checker)
    else:
        with duckdb.connect() as own_checker:
            _check_body(query, body_start + 1, own_checker)
    return query


def _parse_param(path: Path, number: int, spec: str, seen: list[QueryParam]) -> QueryParam:
    m = _PARAM_SPEC.match(spec)
    if not m:
        raise QueryFileError(
            f"{path}:{number}: param {spec!r}: expected 'NAME TYPE [= DEFAULT] [-- help]'"
        )
    name, type_name = m.group("name"), m.group("type").upper()
    if type_name not in PARAM_TYPES:
        raise QueryFileError(
            f"{path}:{number}: param {name!r}: type {m.group('type')!r} is not one of "
            + ", ".join(PARAM_TYPES)
        )
    if any(p.name == name for p in seen):
        raise QueryFileError(f"{path}:{number}: param {name!r} is declared twice")
    default = m.group("default")
    if default is not None and not default.strip():
        raise QueryFileError(f"{path}:{number}: param {name!r}: '=' without a default")
    return QueryParam(name, type_name, default, m.group("help") or "", number)


def _check_body(query: NamedQuery, body_line: int, checker: duckdb.DuckDBPyConnection) -> None:
    """One read-only statement whose ``$name`` placeholders match the declared parameters."""
    try:
        statements = checker.extract_statements(query.sql)
    except duckdb.Error as e:
        raise QueryFileError(f"{query.path}:{body_line}: the SQL does not parse: {e}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise QueryFileError(
            f"{query.path}:{body_line}: a named query must be exactly one SELECT statement"
        )
    used = set(statements[0].named_parameters)
    declared = {p.name for p in query.params}
    if undeclared := sorted(used - declared):
        raise QueryFileError(
            f"{query.path}:{body_line}: the SQL uses "
            + ", ".join(f"${n}" for n in undeclared)
            + " without a '-- param:' line"
        )
    if unused := [p for p in query.params if p.name not in used]:
        raise QueryFileError(
            f"{query.path}:{unused[0].line}: param {unused[0].name!r} is declared "
            "but the SQL never uses it"
        )
    for p in query.params:
        if p.default is not None:
            evaluate_default(checker, p, query.path)


def load_queries(extra_dirs: Iterable[str | Path] = ()) -> dict[str, NamedQuery]:
    """Every named query: the shipped ones, then those in ``extra_dirs``; names must be unique.

    Parsing checks each file with DuckDB (about 30 ms a file); the result is kept until a
    file in the folders is added, removed or changed (by size or modification time), so
    callers that run a query per request (the KPIs, the dashboard) do not parse every time.
    """
    folders = (SHIPPED_QUERY_DIR, *map(Path, extra_dirs))
    key = _folders_key(folders)
    with _CACHE_LOCK:
        cached = _CACHE.get(folders)
        if key is not None and cached is not None and cached[0] == key:
            return dict(cached[1])
    found: dict[str, NamedQuery] = {}
    with duckdb.connect() as checker:
        for folder in folders:
            _load_folder(folder, found, checker)
    result = dict(sorted(found.items()))
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[folders] = (key, result)
    return dict(result)


_CACHE: dict[tuple[Path, ...], tuple[tuple, dict[str, NamedQuery]]] = {}
_CACHE_LOCK = threading.Lock()


def _folders_key(folders: tuple[Path, ...]) -> tuple | None:
    """What the parse depends on: every query file's path, size and modification time."""
    key = []
    for folder in folders:
        if not folder.is_dir():
            return None  # never cached: _load_folder reports the missing folder
        for path in sorted(folder.glob("*.sql")):
            st = path.stat()
            key.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(key)


def _load_folder(
    folder: Path, found: dict[str, NamedQuery], checker: duckdb.DuckDBPyConnection
) -> None:
    if not folder.is_dir():
        raise QueryFileError(f"{folder}: no such query folder")
    for path in sorted(folder.glob("*.sql")):
        query = parse_query_file(path, checker=checker)
        if query.name in found:
            raise QueryFileError(
                f"{path}:1: query name {query.name!r} is already defined in "
                f"{found[query.name].path}"
            )
        found[query.name] = query


def find_query(queries: Mapping[str, NamedQuery], name: str) -> NamedQuery:
    query = queries.get(name)
    if query is None:
        known = ", ".join(queries) or "none"
        raise QueryError(f"no named query {name!r} (known: {known}; see opsengine query --list)")
    return query


def run_query(
    store_or_conn: Store | duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    queries: Mapping[str, NamedQuery] | None = None,
) -> pa.Table:
    """Run the named query with ``params`` (strings are converted by type); a pyarrow Table."""
    query = find_query(queries if queries is not None else load_queries(), name)
    owned = isinstance(store_or_conn, Store)
    cur = store_or_conn.cursor() if owned else store_or_conn
    try:
        bound = query.bind(cur, params or {})
        try:
            return cur.sql(query.sql, params=bound).to_arrow_table()
        except duckdb.Error as e:
            raise QueryRunError(f"query {query.name} ({query.path}): {e}") from None
    finally:
        if owned:
            cur.close()
