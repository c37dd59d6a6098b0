"""``POST /api/v1/sql``: ad-hoc read-only SQL for admins.

Only SELECT, EXPLAIN and introspection PRAGMAs pass, and they run in a ``READ ONLY``
transaction on their own cursor, so nothing sent here can change the store. Values go in
``params`` (bound by DuckDB, ``?`` or ``$name``), never into the text.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, post
from litestar.params import JSONBody

from opsengine.api.auth import ADMIN
from opsengine.api.context import ServicesDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import rows
from opsengine.api.user_sql import adhoc_relation, run_read_only

MAX_SQL_CHARS = 100_000


class SqlRequest(msgspec.Struct, forbid_unknown_fields=True):
    sql: str
    params: list[Any] | dict[str, Any] | None = None


class SqlRows(msgspec.Struct):
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    row_limit: int


class SqlController(Controller):
    path = "/api/v1/sql"
    guards = [ADMIN]
    tags = ["sql"]

    @post("/", sync_to_thread=True, status_code=200, summary="Run read-only SQL (admins)")
    def run_sql(self, data: JSONBody[SqlRequest], services: ServicesDep) -> SqlRows:
        if len(data.sql) > MAX_SQL_CHARS:
            raise ApiError(
                422,
                f"sql is {len(data.sql)} characters; at most {MAX_SQL_CHARS}",
                errors=[FieldError("$.sql", "too long")],
            )
        limit = services.api.sql_row_limit
        result = run_read_only(
            services.engine.store, adhoc_relation(data.sql, data.params), row_limit=limit
        )
        return SqlRows(result.table.column_names, rows(result.table), result.truncated, limit)
