"""Rendering pages: the Jinja environment (autoescaping every template), the filters that
format times and durations, and the context every page gets (who is signed in, what they
may do, the CSRF token, the navigation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Request, Response
from markupsafe import Markup

from opsengine.access.keys import ROLES

#: (path, label, the engine attribute the page needs or None). Pages for the support desk,
#: the knowledge base, configuration and security join here when they are written.
NAV = (
    ("/", "Overview", None),
    ("/incidents", "Incidents", None),
    ("/alerts", "Alerts", None),
    ("/problems", "Problems", None),
    ("/logs", "Logs", None),
    ("/metrics", "Metrics", None),
    ("/queries", "Queries", None),
    ("/capacity", "Capacity", None),
)


def fmt_ts(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def fmt_seconds(value: Any) -> str:
    if value is None:
        return "—"
    s = float(value)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{s / 86400:.1f} d"


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_json(value: Any) -> str:
    """Compact JSON for a table cell (labels, details)."""
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def chart_attr(spec: dict[str, Any]) -> Markup:
    """A chart spec for a ``data-chart`` attribute: JSON, HTML-escaped (read by app.js)."""
    from markupsafe import escape

    return Markup(escape(json.dumps(spec, default=str, separators=(",", ":"))))


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("opsengine.web", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=fmt_ts, seconds=fmt_seconds, num=fmt_num, compact=fmt_json)
    env.globals["chart_attr"] = chart_attr
    return env


def can(request: Request, role: str) -> bool:
    user = request.scope.get("user")
    return user is not None and ROLES.index(user.role) >= ROLES.index(role)


def page_context(request: Request) -> dict[str, Any]:
    engine = request.app.state.services.engine
    session = request.scope["state"].get("web_session")
    return {
        "user": request.scope.get("user"),
        "csrf": session.csrf if session is not None else "",
        "can_act": can(request, "operator"),
        "is_admin": can(request, "admin"),
        "nav": [(p, label) for p, label, needs in NAV if needs is None or hasattr(engine, needs)],
        "path": request.url.path,
    }


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    html = environment().get_template(template).render(**page_context(request), **context)
    return Response(html, status_code=status_code, media_type="text/html; charset=utf-8")


def render_fragment(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
