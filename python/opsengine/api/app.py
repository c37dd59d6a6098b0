"""The Litestar application factory: ``create_app(engine, settings)``.

``CONTROLLERS`` below is the one place routes are registered: a domain adds its
controller module under ``api/controllers/`` and one line here (see CONVENTIONS.md).
The factory wires the shared parts every route gets: the auth middleware (tokens, rate
limit, audit of writes), request timing for ``/metrics``, problem+json errors, the body
size limit, the OpenAPI document at ``/schema/openapi.json``, and the ``engine`` and
``services`` dependencies. It refuses to build an app where an ``/api`` route has no
role guard, so an unguarded route cannot ship by accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from opsengine.api.auth import AuthMiddleware
from opsengine.api.context import ApiServices, build_services
from opsengine.api.controllers import (
    alerts,
    config,
    events,
    health,
    incidents,
    ingest,
    kb,
    keys,
    logs,
    metric_search,
    metrics,
    notify,
    otlp,
    problems,
    queries,
    rules,
    security,
    sql,
    tickets,
)
from opsengine.api.errors import exception_handlers, problem_responses
from opsengine.api.telemetry import RequestTimingMiddleware
from opsengine.config import Settings
from opsengine.web import Dashboard

if TYPE_CHECKING:
    from opsengine.engine import Engine

API_PREFIX = "/api/v1"

CONTROLLERS: list[type] = [
    health.HealthController,
    metrics.MetricsExpositionController,
    logs.LogSearchController,
    events.EventController,
    metric_search.MetricSearchController,
    alerts.AlertController,
    queries.NamedQueryController,
    rules.RuleController,
    sql.SqlController,
    ingest.IngestController,
    otlp.OtlpController,
    keys.KeyController,
    keys.AuditController,
    incidents.IncidentController,
    notify.OnCallController,
    notify.ScheduleController,
    notify.SilenceController,
    notify.MaintenanceController,
    notify.PolicyController,
    notify.ChannelController,
    notify.NotificationController,
    problems.ProblemController,
    problems.KnownErrorController,
    config.ConfigController,
    config.InventoryController,
    security.SecurityController,
    tickets.TicketController,
    tickets.CalendarController,
    tickets.SlaPolicyController,
    tickets.CsatController,
    kb.KnowledgeBaseController,
]


class UnguardedRouteError(RuntimeError):
    """An /api route without a role guard (VIEWER, OPERATOR or ADMIN)."""


def create_app(
    engine: Engine,
    settings: Settings | None = None,
    *,
    services: ApiServices | None = None,
) -> Litestar:
    """The API over ``engine``; ``settings`` default to the engine's own."""
    services = services or build_services(engine, settings)
    api = services.api
    dashboard = Dashboard()  # the web pages (opsengine/web), served by this same app
    app = Litestar(
        route_handlers=[*CONTROLLERS, dashboard.router()],
        dependencies={
            "engine": Provide(lambda: services.engine, sync_to_thread=False),
            "services": Provide(lambda: services, sync_to_thread=False),
        },
        middleware=[
            RequestTimingMiddleware(services.metrics),
            AuthMiddleware(services.keys, services.audit, services.limiter, services.metrics),
        ],
        exception_handlers=exception_handlers(),
        request_max_body_size=api.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="opsengine",
            version="0.1.0",
            description="Operational-support engine: ingest, search, alerts, incidents.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="an API key from `opsengine keys create`",
                    )
                }
            ),
            security=[{"BearerToken": []}],
        ),
        state=State({"services": services, **dashboard.state()}),
        on_shutdown=[services.close],
        debug=False,
    )
    check_guarded(app)
    document_problems(app)
    return app


def document_problems(app: Litestar) -> None:
    """Every route's OpenAPI entry lists its errors as problem+json (Litestar's default
    400 says application/json with another shape, which is not what the API sends)."""
    problems = problem_responses()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            handler.responses = {**problems, **(handler.responses or {})}


def check_guarded(app: Litestar) -> None:
    unguarded = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's automatic preflight answer: it runs no code of ours
            if not any(hasattr(getattr(g, "func", g), "role") for g in handler.resolve_guards()):
                unguarded.append(f"{'/'.join(sorted(handler.http_methods))} {route.path}")
    if unguarded:
        raise UnguardedRouteError(
            "routes without a role guard (add guards=[VIEWER|OPERATOR|ADMIN]): "
            + ", ".join(unguarded)
        )
