"""``/login`` and ``/logout``: an API token in, a session cookie out (see web/session.py)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter

from opsengine.access.audit import AuditEntry
from opsengine.api.auth import client_address
from opsengine.web.render import render
from opsengine.web.session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    OPEN_OPT,
    SESSION_COOKIE,
    SessionStore,
    login_csrf,
    set_cookie,
)

LOGIN_COOKIE_S = 3600


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(request: Request, *, error: str | None, next_: str, status: int) -> Response:
    state = request.app.state
    login_id = request.scope["state"]["web_cookies"].get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status,
        title="Sign in",
        error=error,
        next=next_,
        login_csrf=login_csrf(state.web_secret, login_id),
        csrf_field=CSRF_FIELD,
    )
    response.headers["set-cookie"] = set_cookie(
        LOGIN_COOKIE, login_id, secure=_secure(request), max_age=LOGIN_COOKIE_S
    ).decode()
    return response


class SessionPages(Controller):
    path = "/"
    opt = {OPEN_OPT: True}  # noqa: RUF012

    @get("/login", sync_to_thread=False)
    def login_form(
        self, request: Request, next_: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Response:
        if request.scope.get("user") is not None:
            return Response("", status_code=303, headers={"location": _safe_next(next_)})
        return _login_page(request, error=None, next_=_safe_next(next_), status=200)

    @post("/login", sync_to_thread=False, status_code=303)
    def login(self, request: Request) -> Response:
        form: dict[str, Any] = request.scope["state"]["web_form"]
        services = request.app.state.services
        token = (form.get("token") or "").strip()
        next_ = _safe_next(form.get("next"))
        key, why = services.keys.authenticate(token) if token else (None, "no token given")
        client = client_address(request.scope)
        if key is None:
            wait = request.app.state.web_failed_logins.acquire(client)
            if wait:
                return _login_page(
                    request,
                    error=f"Too many failed sign-ins; wait {wait} s.",
                    next_=next_,
                    status=429,
                )
            services.audit.record(
                AuditEntry(
                    actor="anonymous",
                    action="POST /login (dashboard)",
                    client=client,
                    outcome="unauthenticated",
                    status=401,
                    detail=why,
                )
            )
            return _login_page(request, error="That token is not valid.", next_=next_, status=401)
        sessions: SessionStore = request.app.state.web_sessions
        sid, _ = sessions.create(key.id)
        services.audit.record(
            AuditEntry(
                actor=f"key:{key.id}",
                actor_name=key.name,
                role=key.role,
                action="POST /login (dashboard)",
                client=client,
                outcome="ok",
                status=303,
            )
        )
        response = Response("", status_code=303, headers={"location": next_})
        response.headers["set-cookie"] = set_cookie(
            SESSION_COOKIE, sid, secure=_secure(request)
        ).decode()
        return response

    @post("/logout", sync_to_thread=False, status_code=303, opt={OPEN_OPT: False})
    def logout(self, request: Request) -> Response:
        sid = request.scope["state"]["web_cookies"].get(SESSION_COOKIE, "")
        request.app.state.web_sessions.end(sid)
        response = Response("", status_code=303, headers={"location": "/login"})
        response.headers["set-cookie"] = set_cookie(
            SESSION_COOKIE, "", secure=_secure(request), max_age=0
        ).decode()
        return response
