"""``GET /api/v1/events``: rule matches on log lines, filtered by time, host, rule and kind.

Newest line first (``log_id`` descending, then rule name), paged by that key. The SQL is the
event search service's (``engine.event_search``, ``opsengine.ingest.search``).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from opsengine.api.auth import VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    page,
    time_param,
)


class EventController(Controller):
    path = "/api/v1/events"
    guards = [VIEWER]
    tags = ["events"]

    @get("/", sync_to_thread=True, summary="List rule matches (events), newest first")
    def list_events(
        self,
        engine: EngineDep,
        from_: Annotated[
            str | None, QueryParameter(name="from", description="ISO-8601, now, -1h")
        ] = None,
        to: Annotated[str | None, QueryParameter(description="exclusive end")] = None,
        host: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        rule: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        start, end = time_param("from", from_), time_param("to", to)
        after = decode_cursor(cursor, (int, str))
        found = engine.event_search.search(
            start=start, end=end, host=host, source=source, rule=rule, severity=severity,
            category=category, after=(after[0], after[1]) if after else None, limit=limit + 1,
        )  # fmt: skip
        return page(found, limit, ("log_id", "rule"))
