"""``/problems``: problem records with their linked incidents, and the known errors."""

from __future__ import annotations

from litestar import Controller, Request, Response, get

from opsengine.web.render import render


class ProblemPages(Controller):
    path = "/problems"

    @get("/", sync_to_thread=True)
    def problems(self, request: Request) -> Response:
        engine = request.app.state.services.engine
        return render(
            request,
            "problems.html",
            title="Problems and known errors",
            problems=engine.problems.list_problems(),
            known_errors=engine.problems.list_known_errors(),
        )
