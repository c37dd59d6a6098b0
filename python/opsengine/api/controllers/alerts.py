"""``/api/v1/alerts``: the alert instances as stored by the alert log (``engine.alerts``).

Reading only: alerts are produced by rules, probes and the Alertmanager receiver
(``POST /api/v1/ingest/alertmanager``). Newest change first, paged by
(updated_at, fingerprint, active_since).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter

from opsengine.alerts import ALERT_STATES
from opsengine.api.auth import VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    bad_param,
    decode_cursor,
    page,
)

_ORDER = ("updated_at", "fingerprint", "active_since")


class AlertController(Controller):
    path = "/api/v1/alerts"
    guards = [VIEWER]
    tags = ["alerts"]

    @get("/", sync_to_thread=True, summary="List alert instances, most recently changed first")
    def list_alerts(
        self,
        engine: EngineDep,
        state_: Annotated[
            str | None, QueryParameter(name="state", description="pending | firing | resolved")
        ] = None,
        rule: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        if state_ is not None and state_ not in ALERT_STATES:
            raise bad_param("state", f"must be one of {', '.join(ALERT_STATES)}")
        after = decode_cursor(cursor, (datetime, str, datetime))
        found = engine.alerts.search(
            state=state_, rule=rule, severity=severity, source=source,
            after=(after[0], after[1], after[2]) if after else None, limit=limit + 1,
        )  # fmt: skip
        return page(found, limit, _ORDER)

    @get("/{fingerprint:str}", sync_to_thread=True, summary="Every instance of one alert")
    def alert(self, engine: EngineDep, fingerprint: FromPath[str]) -> list[dict[str, Any]]:
        found = engine.alerts.instances(fingerprint)
        if not found:
            raise NotFoundException(f"no alert with fingerprint {fingerprint!r}")
        return found
