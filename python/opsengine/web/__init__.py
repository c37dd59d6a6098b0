"""The web dashboard, served by the API's Litestar app in the same process.

``Dashboard().router()`` is the one Router ``api/app.py`` registers: server-rendered pages
(Jinja templates under ``templates/``, CSS and JavaScript under ``static/``, plotly's
bundled ``plotly.min.js``), each page controller under ``pages/`` calling the engine's
services or the named queries. Sessions, CSRF and the security headers are
``session.WebSessionMiddleware``'s; roles are the API's guards (a viewer's page has no
action buttons, and the action routes refuse a viewer anyway).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)

from opsengine.api.auth import FAILED_AUTH_PER_SECOND, PUBLIC_OPT
from opsengine.api.ratelimit import RateLimiter
from opsengine.web.pages import (
    alerts,
    assets,
    capacity,
    incidents,
    logs,
    metrics,
    overview,
    problems,
    queries,
    session_pages,
)
from opsengine.web.session import SessionStore, WebSessionMiddleware

log = logging.getLogger("opsengine.web")

PAGES: list[type] = [
    session_pages.SessionPages,
    assets.StaticAssets,
    overview.OverviewPages,
    incidents.IncidentPages,
    alerts.AlertPages,
    problems.ProblemPages,
    logs.LogPages,
    metrics.MetricPages,
    queries.QueryPages,
    capacity.CapacityPages,
]


def _html_error(request: Request, exc: Exception) -> Response:
    from opsengine.web.render import render

    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if isinstance(exc, PermissionDeniedException):
        title, detail = (
            "Not allowed",
            "Your key's role may not do this (operators act; viewers read).",
        )
    elif isinstance(exc, NotAuthorizedException):
        title, detail = "Signed out", "Sign in again."
    elif isinstance(exc, NotFoundException):
        title, detail = "Not found", str(exc.detail)
    elif isinstance(exc, HTTPException):
        title, detail = "Bad request", str(exc.detail)
    else:
        log.error("dashboard page %s failed", request.url.path, exc_info=exc)
        title, detail = "Something went wrong", "The error is in the engine's log."
    return render(request, "error.html", status_code=status, title=title, detail=detail)


class Dashboard:
    """The dashboard's routes and its per-app state (sessions, the CSRF secret)."""

    def __init__(self) -> None:
        self.sessions = SessionStore()
        self.secret = secrets.token_bytes(32)
        # Failed sign-ins per client address beyond this rate get 429 (password guessing).
        self.failed_logins = RateLimiter(FAILED_AUTH_PER_SECOND, 4 * FAILED_AUTH_PER_SECOND)

    def state(self) -> dict[str, Any]:
        return {
            "web_sessions": self.sessions,
            "web_secret": self.secret,
            "web_failed_logins": self.failed_logins,
            "web_live_cache": overview.LiveCache(),
        }

    def router(self) -> Router:
        return Router(
            path="/",
            route_handlers=PAGES,
            # The API's bearer-token middleware skips these routes; the session one takes over.
            opt={PUBLIC_OPT: True},
            middleware=[WebSessionMiddleware()],
            exception_handlers={HTTPException: _html_error, Exception: _html_error},
            include_in_schema=False,
        )


__all__ = ["PAGES", "Dashboard"]
