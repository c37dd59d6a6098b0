"""``/api/v1/security``: findings (``engine.security``) and scans.

Viewers read findings; operators move them through their lifecycle (acknowledge, mitigate,
accept-risk until a date, false-positive, reopen); admins run scans.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import ADMIN, OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import MAX_LIMIT, Page, decode_cursor, page
from opsengine.security.models import FindingNotFound, InvalidTransition

T = TypeVar("T")


def security_call(fn: Callable[[], T], field_of: Callable[[str], str] | None = None) -> T:
    """A service call whose errors become 404/409/422 problems naming the field."""
    try:
        return fn()
    except FindingNotFound as e:
        raise NotFoundException(str(e)) from None
    except InvalidTransition as e:
        raise ApiError(409, str(e)) from None
    except ValueError as e:
        message = str(e)
        head = message.split(":", 1)[0]
        field = (field_of or (lambda h: f"$.{h}"))(head) if head.isidentifier() else "$"
        raise ApiError(422, message, errors=[FieldError(field, message)]) from None


class Transition(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None
    until: str | None = None  # accept-risk: ISO-8601 with a time zone


class ScanRequest(msgspec.Struct, forbid_unknown_fields=True):
    osv_dir: str | None = None
    dpkg_status: str | None = None
    python: list[str] | None = None


def _until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"until: not an ISO-8601 time: {text!r}",
                       errors=[FieldError("$.until", "expected e.g. 2027-01-31T00:00:00Z")]) from None  # fmt: skip


class SecurityController(Controller):
    path = "/api/v1/security"
    tags = ["security"]
    guards = [VIEWER]

    @get("/findings", sync_to_thread=True, summary="Security findings by id, with filters")
    def findings(
        self,
        engine: EngineDep,
        state_: Annotated[str | None, QueryParameter(name="state")] = None,
        kind: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        subject: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        after = decode_cursor(cursor, (int,))
        rows = security_call(
            lambda: engine.security.list(
                state=state_, kind=kind, severity=severity, subject=subject,
                after=after[0] if after else None, limit=limit + 1,
            ),
            lambda h: f"query:{h}",
        )  # fmt: skip
        return page(rows, limit, ("id",))

    @get(
        "/findings/{finding_id:int}", sync_to_thread=True, summary="One finding: evidence, history"
    )
    def finding(self, engine: EngineDep, finding_id: FromPath[int]) -> dict[str, Any]:
        return security_call(lambda: engine.security.get(finding_id))

    def _act(self, engine: Any, request: Request, finding_id: int, action: str,
             data: Transition | None) -> dict[str, Any]:  # fmt: skip
        body = data or Transition()
        until = _until(body.until)
        return security_call(
            lambda: engine.security.act(
                finding_id, action, actor=request.user.actor, reason=body.reason, until=until
            )
        )

    @post("/findings/{finding_id:int}/acknowledge", sync_to_thread=True, status_code=200,
          guards=[OPERATOR], summary="Acknowledge an open finding")  # fmt: skip
    def acknowledge(self, engine: EngineDep, request: Request, finding_id: FromPath[int],
                    data: JSONBody[Transition | None] = None) -> dict[str, Any]:  # fmt: skip
        return self._act(engine, request, finding_id, "acknowledge", data)

    @post("/findings/{finding_id:int}/mitigate", sync_to_thread=True, status_code=200,
          guards=[OPERATOR], summary="Mark a finding mitigated")  # fmt: skip
    def mitigate(self, engine: EngineDep, request: Request, finding_id: FromPath[int],
                 data: JSONBody[Transition | None] = None) -> dict[str, Any]:  # fmt: skip
        return self._act(engine, request, finding_id, "mitigate", data)

    @post("/findings/{finding_id:int}/accept-risk", sync_to_thread=True, status_code=200,
          guards=[OPERATOR], summary="Accept the risk until a date (then it reopens)")  # fmt: skip
    def accept_risk(self, engine: EngineDep, request: Request, finding_id: FromPath[int],
                    data: JSONBody[Transition]) -> dict[str, Any]:  # fmt: skip
        return self._act(engine, request, finding_id, "accept-risk", data)

    @post("/findings/{finding_id:int}/false-positive", sync_to_thread=True, status_code=200,
          guards=[OPERATOR], summary="Mark a false positive: recurrences stay suppressed")  # fmt: skip
    def false_positive(self, engine: EngineDep, request: Request, finding_id: FromPath[int],
                       data: JSONBody[Transition | None] = None) -> dict[str, Any]:  # fmt: skip
        return self._act(engine, request, finding_id, "false-positive", data)

    @post("/findings/{finding_id:int}/reopen", sync_to_thread=True, status_code=200,
          guards=[OPERATOR], summary="Reopen a finding")  # fmt: skip
    def reopen(self, engine: EngineDep, request: Request, finding_id: FromPath[int],
               data: JSONBody[Transition | None] = None) -> dict[str, Any]:  # fmt: skip
        return self._act(engine, request, finding_id, "reopen", data)

    @post("/scan", sync_to_thread=True, status_code=200, guards=[ADMIN],
          summary="Run the vulnerability audit now")  # fmt: skip
    def scan(self, engine: EngineDep, request: Request,
             data: JSONBody[ScanRequest | None] = None) -> dict[str, Any]:  # fmt: skip
        body = data or ScanRequest()
        return security_call(
            lambda: engine.security.scan(
                osv_dir=body.osv_dir, dpkg_status=body.dpkg_status, python_paths=body.python,
                actor=request.user.actor,
            )
        )  # fmt: skip
