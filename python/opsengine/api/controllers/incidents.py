"""``/api/v1/incidents``: list, read and act on incidents (``engine.incidents``), their
timeline, post-incident review and the incident KPIs.

Reading needs viewer; acting (create, acknowledge, resolve, close, reopen, assign, note,
re-prioritise) needs operator, and the caller's key is the "who" in the timeline.
Listed newest first by ``detected_at``, paged by (detected_at, id).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
    time_param,
)
from opsengine.incidents import IncidentNotFound, InvalidTransition

T = TypeVar("T")
_FIELD = re.compile(r"^[A-Za-z_][\w.\[\]]*$")


def domain_call(fn: Callable[[], T]) -> T:
    """Run a service call; its bad-input errors become 404/409/422 problems naming the thing."""
    try:
        return fn()
    except IncidentNotFound as e:
        raise NotFoundException(str(e)) from None
    except InvalidTransition as e:
        raise ApiError(409, str(e)) from None
    except LookupError as e:
        raise NotFoundException(str(e)) from None
    except ValueError as e:
        message = str(e)
        if "no such" in message:
            raise NotFoundException(message) from None
        head = message.split(":", 1)[0]
        # Service messages start with the field they are about ("note: required").
        field = f"$.{head}" if _FIELD.match(head) else "body"
        raise ApiError(422, message, errors=[FieldError(field, message)]) from None


def _transition(
    move: Callable[..., dict[str, Any]], request: Request, incident_id: int, data: Any
) -> dict[str, Any]:
    """resolve / close / reopen with the caller as actor and the body's optional note."""
    note = data.note if data else None
    return domain_call(lambda: move(incident_id, actor=request.user.actor, note=note))


class NewIncident(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    category: str = "error"
    impact: str = "medium"
    urgency: str = "medium"
    service: FromQuery[str | None] = None
    host: FromQuery[str | None] = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class StateChange(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


class Assignment(msgspec.Struct, forbid_unknown_fields=True):
    assignee: str | None


class Note(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class Rating(msgspec.Struct, forbid_unknown_fields=True):
    impact: str
    urgency: str


class IncidentController(Controller):
    path = "/api/v1/incidents"
    guards = [VIEWER]
    tags = ["incidents"]

    @get("/", summary="List incidents, newest first")
    async def list_incidents(
        self,
        engine: EngineDep,
        state_: Annotated[
            str | None,
            QueryParameter(
                name="state", description="open | triggered | acknowledged | resolved | closed"
            ),
        ] = None,
        priority: FromQuery[str | None] = None,
        service: FromQuery[str | None] = None,
        host: FromQuery[str | None] = None,
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        after = decode_cursor(cursor, (datetime, int))
        since, until = time_param("from", from_), time_param("to", to)

        def page() -> list[dict[str, Any]]:
            return domain_call(
                lambda: engine.incidents.list(
                    state=state_, priority=priority, service=service, host=host,
                    since=since, until=until, before=tuple(after) if after else None,
                    limit=limit + 1, records=True,
                )
            )  # fmt: skip

        # From memory a page costs a fraction of a ms: answered on the event loop, where a
        # worker-thread hop would cost more than the page. A store query blocks: a thread.
        if engine.incidents.lists_from_memory:
            found = page()
        else:
            found = await anyio.to_thread.run_sync(page)
        more = len(found) > limit
        found = found[:limit]
        next_cursor = (
            encode_cursor([found[-1]["detected_at"], found[-1]["id"]]) if more and found else None
        )
        return Page(found, next_cursor)

    @get("/kpis", sync_to_thread=True, summary="MTTD, MTTA, MTTR and counts over a range")
    def kpis(
        self,
        engine: EngineDep,
        from_: Annotated[str | None, QueryParameter(name="from")] = "-30d",
        to: FromQuery[str | None] = "now",
    ) -> dict[str, Any]:
        from opsengine.kpi import incident_kpis

        end = time_param("to", to)
        start = time_param("from", from_) or end - timedelta(days=30)
        return incident_kpis(engine.store, start, end)

    @get("/{incident_id:int}", sync_to_thread=True, summary="One incident with its alerts")
    def incident(self, engine: EngineDep, incident_id: FromPath[int]) -> dict[str, Any]:
        return domain_call(lambda: engine.incidents.get(incident_id))

    @get("/{incident_id:int}/timeline", sync_to_thread=True, summary="Every change and note")
    def timeline(self, engine: EngineDep, incident_id: FromPath[int]) -> list[dict[str, Any]]:
        return domain_call(lambda: engine.incidents.timeline(incident_id))

    @get("/{incident_id:int}/review", sync_to_thread=True, summary="Post-incident review")
    def review(
        self, engine: EngineDep, incident_id: FromPath[int], margin: FromQuery[str] = "30m", format_: Annotated[
            str, QueryParameter(name="format", description="json | markdown")
        ] = "json", changes_before: Annotated[str, QueryParameter(
            description="how far before detection other domains' changes are listed")] = "24h",
    ) -> Any:  # fmt: skip
        from opsengine.incidents.review import render_markdown

        review = domain_call(
            lambda: engine.incidents.review(
                incident_id, margin=margin, changes_before=changes_before
            )
        )
        return {"markdown": render_markdown(review)} if format_ == "markdown" else review

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Open an incident")
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewIncident]
    ) -> dict[str, Any]:
        new_id = domain_call(
            lambda: engine.incidents.create(
                data.title, actor=request.user.actor, category=data.category,
                impact=data.impact, urgency=data.urgency, service=data.service, host=data.host,
                labels=data.labels,
            )
        )  # fmt: skip
        return engine.incidents.get(new_id)

    @post("/{incident_id:int}/acknowledge", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def acknowledge(
        self, request: Request, engine: EngineDep, incident_id: FromPath[int]
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.incidents.acknowledge(incident_id, actor=request.user.actor)
        )

    @post("/{incident_id:int}/resolve", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def resolve(
        self,
        request: Request,
        engine: EngineDep,
        incident_id: FromPath[int],
        data: JSONBody[StateChange | None] = None,
    ) -> dict[str, Any]:
        return _transition(engine.incidents.resolve, request, incident_id, data)

    @post("/{incident_id:int}/close", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def close(
        self,
        request: Request,
        engine: EngineDep,
        incident_id: FromPath[int],
        data: JSONBody[StateChange | None] = None,
    ) -> dict[str, Any]:
        return _transition(engine.incidents.close, request, incident_id, data)

    @post("/{incident_id:int}/reopen", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def reopen(
        self,
        request: Request,
        engine: EngineDep,
        incident_id: FromPath[int],
        data: JSONBody[StateChange | None] = None,
    ) -> dict[str, Any]:
        return _transition(engine.incidents.reopen, request, incident_id, data)

    @post("/{incident_id:int}/assign", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def assign(
        self,
        request: Request,
        engine: EngineDep,
        incident_id: FromPath[int],
        data: JSONBody[Assignment],
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.incidents.assign(incident_id, data.assignee, actor=request.user.actor)
        )

    @post("/{incident_id:int}/notes", sync_to_thread=True, status_code=201, guards=[OPERATOR])
    def note(
        self, request: Request, engine: EngineDep, incident_id: FromPath[int], data: JSONBody[Note]
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.incidents.add_note(incident_id, data.text, actor=request.user.actor)
        )

    @post("/{incident_id:int}/priority", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def priority(
        self,
        request: Request,
        engine: EngineDep,
        incident_id: FromPath[int],
        data: JSONBody[Rating],
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.incidents.set_priority(
                incident_id, impact=data.impact, urgency=data.urgency, actor=request.user.actor
            )
        )
