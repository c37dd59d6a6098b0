"""``/api/v1/queries``: the named-query registry (queries/*.sql), listed and run with parameters.

``GET /api/v1/queries/{name}/rows?param=value…`` runs one: every query-string value is a
parameter of the query, converted by its declared type and bound, never spliced into SQL.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from opsengine.api.auth import VIEWER
from opsengine.api.context import ServicesDep
from opsengine.api.paging import rows
from opsengine.api.user_sql import run_read_only
from opsengine.store.named_queries import NamedQuery, QueryError, load_queries


class QueryParamInfo(msgspec.Struct):
    name: str
    type: str
    default: str | None
    required: bool
    help: str


class QueryInfo(msgspec.Struct):
    name: str
    description: str
    params: list[QueryParamInfo]


class QueryRows(msgspec.Struct):
    query: str
    rows: list[dict[str, Any]]
    truncated: bool
    row_limit: int


def _info(q: NamedQuery) -> QueryInfo:
    return QueryInfo(
        q.name,
        q.description,
        [QueryParamInfo(p.name, p.type, p.default, p.default is None, p.help) for p in q.params],
    )


def _find(name: str) -> NamedQuery:
    queries = load_queries()
    if name not in queries:
        raise NotFoundException(
            f"no named query {name!r} (known: {', '.join(sorted(queries)) or 'none'})"
        )
    return queries[name]


class NamedQueryController(Controller):
    path = "/api/v1/queries"
    guards = [VIEWER]
    tags = ["queries"]

    @get("/", sync_to_thread=True, summary="List the named queries and their parameters")
    def list_queries(self) -> list[QueryInfo]:
        return [_info(q) for q in sorted(load_queries().values(), key=lambda q: q.name)]

    @get("/{name:str}", sync_to_thread=True, summary="Describe one named query")
    def describe(self, name: FromPath[str]) -> QueryInfo:
        return _info(_find(name))

    @get(
        "/{name:str}/rows",
        sync_to_thread=True,
        summary="Run a named query; query-string values are its parameters",
    )
    def run(self, request: Request, services: ServicesDep, name: FromPath[str]) -> QueryRows:
        query = _find(name)
        values: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in values:
                raise QueryError(f"query {name}: parameter {key!r} given twice")
            values[key] = value
        query.convert_values(values)  # unknown or malformed parameters: 422 before running
        limit = services.api.sql_row_limit
        result = run_read_only(
            services.engine.store,
            lambda cur: cur.sql(query.sql, params=query.bind(cur, values)),
            row_limit=limit,
        )
        return QueryRows(name, rows(result.table), result.truncated, limit)
