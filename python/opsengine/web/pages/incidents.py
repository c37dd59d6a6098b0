"""``/incidents`` (filterable, live) and ``/incidents/{id}`` (timeline, alerts, the events
and metrics around it, the post-incident review, and the operator's actions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from opsengine.api.auth import OPERATOR
from opsengine.incidents import IncidentNotFound, InvalidTransition
from opsengine.incidents.review import render_markdown
from opsengine.web.charts import line_chart
from opsengine.web.reads import metric_series
from opsengine.web.render import render, render_fragment

STATES = ("open", "triggered", "acknowledged", "resolved", "closed")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
LIST_LIMIT = 200
#: Metrics drawn around an incident on a host.
AROUND = ("cpu_usage_percent", "memory_used_percent", "disk_used_percent")


def _filters(state: str | None, priority: str | None, service: str | None, host: str | None):
    return {
        "state": state if state in STATES else None,
        "priority": priority if priority in PRIORITIES else None,
        "service": service or None,
        "host": host or None,
    }


def _list(request: Request, filters: dict[str, Any]) -> list[dict[str, Any]]:
    engine = request.app.state.services.engine
    return engine.incidents.list(**filters, limit=LIST_LIMIT)


class IncidentPages(Controller):
    path = "/incidents"

    @get("/", sync_to_thread=True)
    def incidents(
        self,
        request: Request,
        state_: Annotated[str | None, QueryParameter(name="state")] = None,
        priority: Annotated[str | None, QueryParameter()] = None,
        service: Annotated[str | None, QueryParameter()] = None,
        host: Annotated[str | None, QueryParameter()] = None,
    ) -> Response:
        filters = _filters(state_, priority, service, host)
        return render(
            request,
            "incidents.html",
            title="Incidents",
            incidents=_list(request, filters),
            filters=filters,
            states=STATES,
            priorities=PRIORITIES,
            live_query=str(request.url.query or ""),
            limit=LIST_LIMIT,
        )

    @get("/live", sync_to_thread=True)
    def live(
        self,
        request: Request,
        state_: Annotated[str | None, QueryParameter(name="state")] = None,
        priority: Annotated[str | None, QueryParameter()] = None,
        service: Annotated[str | None, QueryParameter()] = None,
        host: Annotated[str | None, QueryParameter()] = None,
    ) -> Response:
        filters = _filters(state_, priority, service, host)
        html = render_fragment("incidents_rows.html", incidents=_list(request, filters))
        return Response(html, media_type="text/html; charset=utf-8")

    @get("/{incident_id:int}", sync_to_thread=True)
    def incident(self, request: Request, incident_id: FromPath[int]) -> Response:
        return _detail(request, incident_id)

    @post("/{incident_id:int}/acknowledge", sync_to_thread=True, guards=[OPERATOR])
    def acknowledge(self, request: Request, incident_id: FromPath[int]) -> Response:
        return _act(
            request, incident_id, lambda inc, actor, form: inc.acknowledge(incident_id, actor=actor)
        )

    @post("/{incident_id:int}/resolve", sync_to_thread=True, guards=[OPERATOR])
    def resolve(self, request: Request, incident_id: FromPath[int]) -> Response:
        return _act(
            request,
            incident_id,
            lambda inc, actor, form: inc.resolve(
                incident_id, actor=actor, note=form.get("note") or None
            ),
        )

    @post("/{incident_id:int}/assign", sync_to_thread=True, guards=[OPERATOR])
    def assign(self, request: Request, incident_id: FromPath[int]) -> Response:
        return _act(
            request,
            incident_id,
            lambda inc, actor, form: inc.assign(
                incident_id, form.get("assignee") or None, actor=actor
            ),
        )

    @post("/{incident_id:int}/notes", sync_to_thread=True, guards=[OPERATOR])
    def note(self, request: Request, incident_id: FromPath[int]) -> Response:
        return _act(
            request,
            incident_id,
            lambda inc, actor, form: inc.add_note(incident_id, form.get("text", ""), actor=actor),
        )


def _act(
    request: Request, incident_id: int, action: Callable[[Any, str, dict[str, str]], Any]
) -> Response:
    """Run an action; back to the detail page (303), or the page with the error (409/422)."""
    engine = request.app.state.services.engine
    form = request.scope["state"]["web_form"]
    try:
        action(engine.incidents, request.user.actor, form)
    except IncidentNotFound as e:
        return render(request, "error.html", status_code=404, title="Not found", detail=str(e))
    except InvalidTransition as e:
        return _detail(request, incident_id, error=str(e), status=409)
    except ValueError as e:
        return _detail(request, incident_id, error=str(e), status=422)
    return Response("", status_code=303, headers={"location": f"/incidents/{incident_id}"})


def _detail(request: Request, incident_id: int, *, error: str | None = None, status: int = 200):
    engine = request.app.state.services.engine
    try:
        review = engine.incidents.review(incident_id)
    except IncidentNotFound as e:
        return render(request, "error.html", status_code=404, title="Not found", detail=str(e))
    inc = review["incident"]
    charts = []
    if inc.get("host"):
        start, end = review["window"]["from"], review["window"]["to"]
        span = (end - start).total_seconds()
        bucket = "15s" if span <= 3600 else "1m" if span <= 6 * 3600 else "15m"
        for name in AROUND:
            rows = metric_series(engine, name, start, end, bucket, host=inc["host"])
            if rows:
                charts.append(
                    line_chart(
                        rows,
                        x="bucket_start",
                        y="peak",
                        by=None,
                        title=f"{name} on {inc['host']}",
                        y_title="%",
                    )
                )
    return render(
        request,
        "incident.html",
        status_code=status,
        title=f"Incident {incident_id}: {inc['title']}",
        inc=inc,
        review=review,
        review_markdown=render_markdown(review),
        charts=charts,
        error=error,
        margin=timedelta(minutes=30),
    )
