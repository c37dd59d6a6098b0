"""``/api/v1/kb``: knowledge-base articles (``engine.kb``): ranked search, reading (counts a
view), writing (operators), reader feedback and article statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.controllers.tickets import field_problem
from opsengine.api.paging import time_param
from opsengine.kb.service import ArticleNotFound

T = TypeVar("T")


def kb_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ArticleNotFound as e:
        if str(e).startswith("article "):
            raise NotFoundException(str(e)) from None
        raise field_problem(e) from None
    except ValueError as e:
        raise field_problem(e) from None


class NewArticle(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    body: str
    tags: list[str] = msgspec.field(default_factory=list)
    state: str = "draft"
    known_errors: list[int] = msgspec.field(default_factory=list)
    problems: list[int] = msgspec.field(default_factory=list)


class Feedback(msgspec.Struct, forbid_unknown_fields=True):
    helpful: bool
    ticket_id: int | None = None
    comment: str | None = None


class KnowledgeBaseController(Controller):
    path = "/api/v1/kb"
    guards = [VIEWER]
    tags = ["kb"]

    @get("/articles", sync_to_thread=True, summary="Ranked full-text search (BM25, stemmed)")
    def search(
        self,
        engine: EngineDep,
        q: FromQuery[str | None] = None,
        tag: Annotated[list[str] | None, QueryParameter(description="every tag given")] = None,
        state_: Annotated[
            str, QueryParameter(name="state", description="published | draft | any")
        ] = "published",
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        offset: Annotated[int, QueryParameter(ge=0, le=10_000)] = 0,
    ) -> dict[str, Any]:
        return kb_call(
            lambda: engine.kb.search(
                q, tags=tag, state=None if state_ == "any" else state_, limit=limit, offset=offset
            )
        )

    @get("/articles/{article_id:int}", sync_to_thread=True, summary="One article (a view)")
    def article(self, engine: EngineDep, article_id: FromPath[int]) -> dict[str, Any]:
        return kb_call(lambda: engine.kb.get(article_id, count_view=True))

    @post("/articles", sync_to_thread=True, status_code=201, guards=[OPERATOR])
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewArticle]
    ) -> dict[str, Any]:
        return kb_call(
            lambda: engine.kb.create(**msgspec.structs.asdict(data), actor=request.user.actor)
        )

    @put("/articles/{article_id:int}", sync_to_thread=True, guards=[OPERATOR])
    def update(
        self,
        request: Request,
        engine: EngineDep,
        article_id: FromPath[int],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        return kb_call(lambda: engine.kb.update(article_id, data, actor=request.user.actor))

    @post("/articles/{article_id:int}/feedback", sync_to_thread=True, status_code=201,
          guards=[VIEWER], summary="Helpful or not (for a ticket: a deflection)")  # fmt: skip
    def feedback(
        self,
        request: Request,
        engine: EngineDep,
        article_id: FromPath[int],
        data: JSONBody[Feedback],
    ) -> dict[str, Any]:
        return kb_call(
            lambda: engine.kb.feedback(
                article_id, helpful=data.helpful, ticket_id=data.ticket_id,
                comment=data.comment, actor=request.user.actor,
            )
        )  # fmt: skip

    @get("/stats", sync_to_thread=True, summary="kb_article_stats: views, feedback, deflections")
    def stats(
        self,
        engine: EngineDep,
        from_: Annotated[str | None, QueryParameter(name="from")] = "-30d",
        to: FromQuery[str | None] = "now",
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 20,
    ) -> list[dict[str, Any]]:
        end = time_param("to", to)
        start = time_param("from", from_) or end - timedelta(days=30)
        return engine.kb.stats(start, end, limit)
