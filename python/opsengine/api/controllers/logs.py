"""``GET /api/v1/logs``: search stored log lines by time, host, source, level and text.

Newest first, paged by ``logs.id`` (the writer's increasing id). Every filter value is a
bound parameter. ``text`` matches a case-insensitive substring of the raw line.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter

from opsengine.api.auth import VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    Where,
    decode_cursor,
    limit_param,
    page,
    query_rows,
)

_COLUMNS = "id, ts, ingested_at, host, source, app, pid, level, message, raw, template_id"
MAX_TEXT_CHARS = 1000


class LogSearchController(Controller):
    path = "/api/v1/logs"
    guards = [VIEWER]  # noqa: RUF012
    tags = ["logs"]  # noqa: RUF012

    @get("/", sync_to_thread=True, summary="Search log lines (newest first)")
    def search(
        self,
        engine: EngineDep,
        from_: Annotated[
            str | None, QueryParameter(name="from", description="ISO-8601, now, -1h")
        ] = None,
        to: Annotated[
            str | None, QueryParameter(description="exclusive end; ISO-8601, now, -1h")
        ] = None,
        host: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        level: FromQuery[str | None] = None,
        text: Annotated[str | None, QueryParameter(max_length=MAX_TEXT_CHARS)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        where = Where()
        where.time_range("ts", from_, to)
        where.equal(host=host, source=source, level=level)
        if text:
            where.add("contains(lower(raw), ?)", text.lower())
        if (after := decode_cursor(cursor, (int,))) is not None:
            where.add("id < ?", after[0])
        sql = f"SELECT {_COLUMNS} FROM logs{where.sql()} ORDER BY id DESC LIMIT ?"
        params = [*where.params, limit_param(limit) + 1]
        return page(query_rows(engine.store, sql, params), limit, ("id",))

    @get("/{log_id:int}", sync_to_thread=True, summary="One log line by id")
    def line(self, engine: EngineDep, log_id: FromPath[int]) -> dict[str, Any]:
        found = query_rows(engine.store, f"SELECT {_COLUMNS} FROM logs WHERE id = ?", [log_id])
        if not found:
            raise NotFoundException(f"no log line with id {log_id}")
        return found[0]
