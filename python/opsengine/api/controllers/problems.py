"""``/api/v1/problems`` and ``/api/v1/known-errors``: problem records and the known-error
database (``engine.problems``). Reading needs viewer; writing needs operator."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from opsengine.api.auth import OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.controllers.incidents import domain_call


class NewProblem(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    root_cause: str | None = None
    workaround: str | None = None
    permanent_fix: str | None = None
    incident_ids: list[int] = msgspec.field(default_factory=list)


class ProblemChange(msgspec.Struct, forbid_unknown_fields=True):
    state: str | None = None
    title: str | None = None
    root_cause: str | None = None
    workaround: str | None = None
    permanent_fix: str | None = None


class IncidentLink(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: FromPath[int]


class NewKnownError(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    symptoms: str
    workaround: str | None = None
    resolution: str | None = None
    rules: list[str] = msgspec.field(default_factory=list)
    fingerprints: list[str] = msgspec.field(default_factory=list)
    problem_id: int | None = None


class ProblemController(Controller):
    path = "/api/v1/problems"
    guards = [VIEWER]
    tags = ["problems"]

    @get("/", sync_to_thread=True, summary="Problems, with how many incidents each links")
    def list_problems(
        self, engine: EngineDep, state_: Annotated[str | None, QueryParameter(name="state")] = None
    ) -> list[dict[str, Any]]:
        return domain_call(lambda: engine.problems.list_problems(state=state_))

    @get("/{problem_id:int}", sync_to_thread=True, summary="One problem and its incidents")
    def problem(self, engine: EngineDep, problem_id: FromPath[int]) -> dict[str, Any]:
        return domain_call(lambda: engine.problems.get_problem(problem_id))

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Open a problem")
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewProblem]
    ) -> dict[str, Any]:
        pid = domain_call(
            lambda: engine.problems.create_problem(
                data.title, actor=request.user.actor, root_cause=data.root_cause,
                workaround=data.workaround, permanent_fix=data.permanent_fix,
                incident_ids=data.incident_ids,
            )
        )  # fmt: skip
        return engine.problems.get_problem(pid)

    @patch("/{problem_id:int}", sync_to_thread=True, guards=[OPERATOR], summary="Update")
    def update(
        self,
        request: Request,
        engine: EngineDep,
        problem_id: FromPath[int],
        data: JSONBody[ProblemChange],
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.problems.update_problem(
                problem_id, actor=request.user.actor, **msgspec.structs.asdict(data)
            )
        )

    @post("/{problem_id:int}/incidents", sync_to_thread=True, status_code=201, guards=[OPERATOR])
    def link(
        self,
        request: Request,
        engine: EngineDep,
        problem_id: FromPath[int],
        data: JSONBody[IncidentLink],
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.problems.link_incident(
                problem_id, data.incident_id, actor=request.user.actor
            )
        )


class KnownErrorController(Controller):
    path = "/api/v1/known-errors"
    guards = [VIEWER]
    tags = ["problems"]

    @get("/", sync_to_thread=True, summary="The known-error database")
    def list_known_errors(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.problems.list_known_errors()

    @get("/{ke_id:int}", sync_to_thread=True, summary="One known error")
    def known_error(self, engine: EngineDep, ke_id: FromPath[int]) -> dict[str, Any]:
        return domain_call(lambda: engine.problems.get_known_error(ke_id))

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Record one")
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewKnownError]
    ) -> dict[str, Any]:
        kid = domain_call(
            lambda: engine.problems.create_known_error(
                data.title, symptoms=data.symptoms, actor=request.user.actor,
                workaround=data.workaround, resolution=data.resolution, rules=data.rules,
                fingerprints=data.fingerprints, problem_id=data.problem_id,
            )
        )  # fmt: skip
        return engine.problems.get_known_error(kid)
