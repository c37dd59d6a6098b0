"""``/api/v1/tickets``, ``/api/v1/calendars``, ``/api/v1/sla-policies`` and
``/api/v1/csat/{token}``: the service desk (``engine.tickets``).

Viewers read; operators work tickets (create, reply, change status, escalate, link, merge,
bulk update); admins manage calendars and SLA policies and may import tickets with their
original ``created_at``. The survey answer needs no key: its signed one-time token is the
permission (see :mod:`opsengine.tickets.csat`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import ADMIN, OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import MAX_LIMIT, Page, decode_cursor, encode_cursor, time_param
from opsengine.tickets.model import InvalidTransition, SurveyRefused, TicketNotFound

T = TypeVar("T")
_FIELD = re.compile(r"^[A-Za-z_][\w.\[\]-]*$")


def desk_call(fn: Callable[[], T]) -> T:
    """Run a service call; its errors become problems naming the field (404/409/422)."""
    try:
        return fn()
    except TicketNotFound as e:
        raise NotFoundException(str(e)) from None
    except SurveyRefused as e:
        status = 409 if "answered already" in str(e) else 403
        raise ApiError(status, str(e), errors=[FieldError("path:token", str(e))]) from None
    except InvalidTransition as e:
        raise ApiError(409, str(e), errors=[FieldError("$.status", str(e))]) from None
    except LookupError as e:
        raise NotFoundException(str(e)) from None
    except ValueError as e:
        raise field_problem(e) from None


def field_problem(e: Exception) -> ApiError:
    message = str(e)
    head = message.split(":", 1)[0]
    field = f"$.{head}" if _FIELD.match(head) else "$"
    return ApiError(422, message, errors=[FieldError(field, message)])


class Requester(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    name: str | None = None


class Attachment(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    size: int
    sha256: str
    type: str = "application/octet-stream"


class NewTicket(msgspec.Struct, forbid_unknown_fields=True):
    subject: str
    description: str
    requester: Requester
    priority: str = "P3"
    queue: str | None = None
    sla_policy: str | None = None
    category: str | None = None
    assignee: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    created_at: str | None = None  # admins only: importing from another desk


class Reply(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    public: bool = True
    attachments: list[Attachment] = msgspec.field(default_factory=list)


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class Link(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: int | None = None
    problem_id: int | None = None
    auto_solve: bool = True


class Merge(msgspec.Struct, forbid_unknown_fields=True):
    into: int


class Bulk(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int]
    changes: dict[str, Any] | None = None
    status: str | None = None


class CalendarSpec(msgspec.Struct, forbid_unknown_fields=True):
    timezone: str
    hours: dict[str, list[str]]
    holidays: list[str] = msgspec.field(default_factory=list)
    exceptions: dict[str, list[str]] = msgspec.field(default_factory=dict)


class PolicySpec(msgspec.Struct, forbid_unknown_fields=True):
    calendar: str
    targets: dict[str, dict[str, str]]
    queues: list[str] = msgspec.field(default_factory=list)


class SurveyAnswer(msgspec.Struct, forbid_unknown_fields=True):
    rating: int
    comment: str | None = None


def _files(items: list[Attachment]) -> list[dict[str, Any]]:
    return [msgspec.structs.asdict(a) for a in items]


class TicketController(Controller):
    path = "/api/v1/tickets"
    guards = [VIEWER]
    tags = ["tickets"]

    @get("/", sync_to_thread=True, summary="List and search tickets, newest first")
    def list_tickets(
        self,
        engine: EngineDep,
        q: FromQuery[str | None] = None,
        requester: FromQuery[str | None] = None,
        status: Annotated[
            str | None,
            QueryParameter(description="unsolved | new | open | pending | solved | closed"),
        ] = None,
        queue: FromQuery[str | None] = None,
        tag: FromQuery[str | None] = None,
        assignee: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        after = decode_cursor(cursor, (int,))
        found = desk_call(
            lambda: engine.tickets.list(
                q=q, requester=requester, status=status, queue=queue, tag=tag,
                assignee=assignee, before=after[0] if after else None, limit=limit + 1,
            )
        )  # fmt: skip
        more = len(found) > limit
        found = found[:limit]
        return Page(found, encode_cursor([found[-1]["id"]]) if more and found else None)

    @get("/{ticket_id:int}", sync_to_thread=True, summary="One ticket: SLA, replies, links")
    def ticket(self, engine: EngineDep, ticket_id: FromPath[int]) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.get(ticket_id))

    @get("/{ticket_id:int}/history", sync_to_thread=True, summary="Every change of a ticket")
    def history(self, engine: EngineDep, ticket_id: FromPath[int]) -> list[dict[str, Any]]:
        return desk_call(lambda: engine.tickets.history(ticket_id))

    @get("/{ticket_id:int}/suggestions", sync_to_thread=True, summary="Articles for a ticket")
    def suggestions(self, engine: EngineDep, ticket_id: FromPath[int]) -> list[dict[str, Any]]:
        t = desk_call(lambda: engine.tickets.get(ticket_id))
        return engine.kb.suggest(t["subject"], t["description"])

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Open a ticket")
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewTicket]
    ) -> dict[str, Any]:
        created_at = None
        if data.created_at is not None:
            if request.user.role != "admin":
                raise ApiError(
                    403,
                    "created_at: importing a ticket's history needs the admin role",
                    errors=[FieldError("$.created_at", "admins only")],
                )
            created_at = desk_call(lambda: _time("created_at", data.created_at))
        return desk_call(
            lambda: engine.tickets.create(
                subject=data.subject, description=data.description,
                requester={"email": data.requester.email, "name": data.requester.name},
                priority=data.priority, queue=data.queue, sla_policy=data.sla_policy,
                category=data.category, assignee=data.assignee, tags=data.tags,
                attachments=_files(data.attachments), created_at=created_at,
                actor=request.user.actor, source="import" if created_at else "api",
            )
        )  # fmt: skip

    @patch("/{ticket_id:int}", sync_to_thread=True, guards=[OPERATOR],
           summary="Change assignee, priority, queue, category, tags or sla_policy")  # fmt: skip
    def update(
        self,
        request: Request,
        engine: EngineDep,
        ticket_id: FromPath[int],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.update(ticket_id, data, actor=request.user.actor))

    @post("/{ticket_id:int}/replies", sync_to_thread=True, status_code=201, guards=[OPERATOR],
          summary="A public reply or an internal note")  # fmt: skip
    def reply(
        self, request: Request, engine: EngineDep, ticket_id: FromPath[int], data: JSONBody[Reply]
    ) -> dict[str, Any]:
        return desk_call(
            lambda: engine.tickets.reply(
                ticket_id, data.body, public=data.public, actor=request.user.actor,
                attachments=_files(data.attachments),
            )
        )  # fmt: skip

    @post("/{ticket_id:int}/status", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def status(
        self,
        request: Request,
        engine: EngineDep,
        ticket_id: FromPath[int],
        data: JSONBody[StatusChange],
    ) -> dict[str, Any]:
        return desk_call(
            lambda: engine.tickets.set_status(ticket_id, data.status, actor=request.user.actor)
        )

    @post("/{ticket_id:int}/escalate", sync_to_thread=True, status_code=200, guards=[OPERATOR],
          summary="Open an incident from the ticket and link them")  # fmt: skip
    def escalate(
        self, request: Request, engine: EngineDep, ticket_id: FromPath[int]
    ) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.escalate(ticket_id, actor=request.user.actor))

    @post("/{ticket_id:int}/links", sync_to_thread=True, status_code=200, guards=[OPERATOR])
    def link(
        self, request: Request, engine: EngineDep, ticket_id: FromPath[int], data: JSONBody[Link]
    ) -> dict[str, Any]:
        return desk_call(
            lambda: engine.tickets.link(
                ticket_id, incident_id=data.incident_id, problem_id=data.problem_id,
                auto_solve=data.auto_solve, actor=request.user.actor,
            )
        )  # fmt: skip

    @post("/{ticket_id:int}/merge", sync_to_thread=True, status_code=200, guards=[OPERATOR],
          summary="Merge this duplicate into another ticket")  # fmt: skip
    def merge(
        self, request: Request, engine: EngineDep, ticket_id: FromPath[int], data: JSONBody[Merge]
    ) -> dict[str, Any]:
        return desk_call(
            lambda: engine.tickets.merge(ticket_id, data.into, actor=request.user.actor)
        )

    @post("/bulk", sync_to_thread=True, status_code=200, guards=[OPERATOR],
          summary="The same change on many tickets: all or none")  # fmt: skip
    def bulk(self, request: Request, engine: EngineDep, data: JSONBody[Bulk]) -> dict[str, Any]:
        tickets = desk_call(
            lambda: engine.tickets.bulk_update(
                data.ids, changes=data.changes, status=data.status, actor=request.user.actor
            )
        )
        return {"updated": len(tickets), "tickets": tickets}

    @get("/{ticket_id:int}/survey", sync_to_thread=True, guards=[OPERATOR],
         summary="The signed one-time survey link of a solved ticket, to send the requester")  # fmt: skip
    def survey(self, engine: EngineDep, ticket_id: FromPath[int]) -> dict[str, Any]:
        token = desk_call(lambda: engine.tickets.survey_token(ticket_id))
        return {"token": token, "path": f"/api/v1/csat/{token}"}


def _time(field: str, text: str):
    try:
        return time_param(field, text)
    except ApiError as e:
        raise ValueError(f"{field}: {e.detail}") from None


class CalendarController(Controller):
    path = "/api/v1/calendars"
    guards = [VIEWER]
    tags = ["tickets"]

    @get("/", sync_to_thread=True, summary="Business-hours calendars")
    def list_calendars(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.tickets.list_calendars()

    @get("/{name:str}", sync_to_thread=True)
    def calendar(self, engine: EngineDep, name: FromPath[str]) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.get_calendar(name))

    @put("/{name:str}", sync_to_thread=True, guards=[ADMIN],
         summary="Define a calendar; open tickets' clocks are recomputed")  # fmt: skip
    def put_calendar(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[CalendarSpec]
    ) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.set_calendar(name, msgspec.structs.asdict(data)))


class SlaPolicyController(Controller):
    path = "/api/v1/sla-policies"
    guards = [VIEWER]
    tags = ["tickets"]

    @get("/", sync_to_thread=True, summary="SLA policies")
    def list_policies(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.tickets.list_policies()

    @get("/{name:str}", sync_to_thread=True)
    def policy(self, engine: EngineDep, name: FromPath[str]) -> dict[str, Any]:
        return desk_call(lambda: engine.tickets.get_policy(name))

    @put("/{name:str}", sync_to_thread=True, guards=[ADMIN],
         summary="Define a policy; the queues listed name it from now on")  # fmt: skip
    def put_policy(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[PolicySpec]
    ) -> dict[str, Any]:
        return desk_call(
            lambda: engine.tickets.set_policy(
                name, {"calendar": data.calendar, "targets": data.targets}, queues=data.queues
            )
        )


async def signed_link(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The survey route's guard: no key; the service verifies the token's signature."""


signed_link.role = "signed-link"  # type: ignore[attr-defined]  # create_app's guard check


class CsatController(Controller):
    path = "/api/v1/csat"
    tags = ["tickets"]

    @post("/{token:str}", sync_to_thread=True, status_code=200, guards=[signed_link],
          opt={"public": True}, security=[], summary="Answer a satisfaction survey (once)")  # fmt: skip
    def answer(self, engine: EngineDep, token: FromPath[str], data: JSONBody[SurveyAnswer]) -> dict:
        return desk_call(lambda: engine.tickets.answer_survey(token, data.rating, data.comment))
