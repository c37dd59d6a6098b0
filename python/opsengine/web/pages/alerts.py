"""``/alerts``: the alert instances, and the silences that mute them (operators add and
expire silences here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from opsengine.alerts import ALERT_STATES
from opsengine.api.auth import OPERATOR
from opsengine.durations import parse_duration
from opsengine.web.render import render

MAX_ROWS = 500


def _page(request: Request, state: str | None, *, error: str | None = None, status: int = 200):
    engine = request.app.state.services.engine
    state = state if state in ALERT_STATES else None
    alerts = engine.alerts.current(state=state).to_pylist()
    alerts.reverse()  # most recently changed first
    now = datetime.now(UTC)
    return render(
        request,
        "alerts.html",
        status_code=status,
        title="Alerts",
        alerts=alerts[:MAX_ROWS],
        total=len(alerts),
        state=state,
        states=ALERT_STATES,
        silences=engine.notify.silences.list("silence", ending_after=now),
        error=error,
    )


class AlertPages(Controller):
    path = "/"

    @get("/alerts", sync_to_thread=True)
    def alerts(
        self, request: Request, state_: Annotated[str | None, QueryParameter(name="state")] = None
    ) -> Response:
        return _page(request, state_)

    @post("/silences", sync_to_thread=True, guards=[OPERATOR])
    def add_silence(self, request: Request) -> Response:
        engine = request.app.state.services.engine
        form = request.scope["state"]["web_form"]
        matchers = [m.strip() for m in form.get("matchers", "").split(",") if m.strip()]
        try:
            seconds = parse_duration(form.get("duration", "1h"))
            now = datetime.now(UTC)
            engine.notify.silences.create_silence(
                matchers,
                starts_at=now,
                ends_at=datetime.fromtimestamp(now.timestamp() + seconds, UTC),
                author=request.user.actor,
                comment=form.get("comment", ""),
            )
        except ValueError as e:
            return _page(request, None, error=str(e), status=422)
        return Response("", status_code=303, headers={"location": "/alerts"})

    @post("/silences/{silence_id:int}/expire", sync_to_thread=True, guards=[OPERATOR])
    def expire_silence(self, request: Request, silence_id: FromPath[int]) -> Response:
        engine = request.app.state.services.engine
        try:
            engine.notify.silences.expire("silence", silence_id)
        except ValueError as e:
            return _page(request, None, error=str(e), status=404)
        return Response("", status_code=303, headers={"location": "/alerts"})
