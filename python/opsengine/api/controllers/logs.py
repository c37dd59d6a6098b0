"""``GET /api/v1/logs``: search stored log lines by time, host, source, level and text.

Newest first, paged by ``logs.id`` (the writer's increasing id). The SQL is the log search
service's (``engine.log_search``, ``opsengine.ingest.search``).
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
    decode_cursor,
    limit_param,
    page,
    time_param,
)

MAX_TEXT_CHARS = 1000


class LogSearchController(Controller):
    path = "/api/v1/logs"
    guards = [VIEWER]
    tags = ["logs"]

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
        start, end = time_param("from", from_), time_param("to", to)
        after = decode_cursor(cursor, (int,))
        found = engine.log_search.search(
            start=start, end=end, host=host, source=source, level=level, text=text,
            before_id=after[0] if after else None, limit=limit_param(limit) + 1,
        )  # fmt: skip
        return page(found, limit, ("id",))

    @get("/{log_id:int}", sync_to_thread=True, summary="One log line by id")
    def line(self, engine: EngineDep, log_id: FromPath[int]) -> dict[str, Any]:
        found = engine.log_search.line(log_id)
        if found is None:
            raise NotFoundException(f"no log line with id {log_id}")
        return found
