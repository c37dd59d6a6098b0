"""Dashboard sessions: an API token signed in at ``/login`` becomes a server-side session.

The browser holds only a random session id in an HTTP-only, ``SameSite=Strict`` cookie;
the token itself is checked once at sign-in and never stored (the session keeps the key's
id, so revoking the key ends its sessions at the next request). Every form carries the
session's CSRF token in the field ``_csrf``; the middleware refuses a POST without the
right one before any handler runs, so a page cannot forget it. The sign-in form is
protected the same way by a token bound to a short-lived pre-session cookie.

Every dashboard response gets the security headers: a Content-Security-Policy that allows
scripts, styles and fetches from this origin only (no inline script anywhere), no framing,
no MIME sniffing. Writes are recorded in the audit log like the API's.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Scopes, Send

from opsengine.access.audit import AuditEntry, outcome_for
from opsengine.api.auth import Principal, client_address
from opsengine.api.telemetry import StatusCapture

SESSION_COOKIE = "opsengine_session"
LOGIN_COOKIE = "opsengine_login"
CSRF_FIELD = "_csrf"
#: A session unused this long ends; one older than MAX_AGE_S ends regardless.
IDLE_S = 8 * 3600
MAX_AGE_S = 24 * 3600
MAX_SESSIONS = 10_000
MAX_FORM_BYTES = 256 << 10
#: Route ``opt`` key: the route needs no session (the sign-in page, static files).
OPEN_OPT = "web_open"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Styles may be inline: plotly sets its SVG's styles from its own (same-origin) script. Scripts
# may not: every script is a file from this origin, so injected markup cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass
class Session:
    key_id: str
    csrf: str
    created: float
    last_used: float = field(default=0.0)


class SessionStore:
    """Sessions in memory: a restart signs everyone out (the tokens still work)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, key_id: str) -> tuple[str, Session]:
        now = time.time()
        sid = secrets.token_urlsafe(32)
        session = Session(key_id, secrets.token_urlsafe(32), now, now)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._expire(now, force=True)
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str) -> Session | None:
        now = time.time()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_used > IDLE_S or now - session.created > MAX_AGE_S:
                del self._sessions[sid]
                return None
            session.last_used = now
            return session

    def end(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float, *, force: bool) -> None:
        for sid, s in list(self._sessions.items()):
            if now - s.last_used > IDLE_S or now - s.created > MAX_AGE_S:
                del self._sessions[sid]
        if force and len(self._sessions) >= MAX_SESSIONS:  # drop the least recently used
            oldest = sorted(self._sessions, key=lambda k: self._sessions[k].last_used)
            for sid in oldest[: len(oldest) // 10 or 1]:
                del self._sessions[sid]


def login_csrf(secret: bytes, login_id: str) -> str:
    """The sign-in form's token, bound to its pre-session cookie."""
    return hmac.new(secret, f"login:{login_id}".encode(), "sha256").hexdigest()


def cookies_of(scope: Scope) -> dict[str, str]:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: treat as none
                return {}
            return {k: m.value for k, m in jar.items()}
    return {}


def set_cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


async def send_simple(
    send: Send, status: int, body: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _refusal(title: str, detail: str) -> str:
    from markupsafe import escape

    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(title)} · opsengine</title><link rel="stylesheet" href="/static/app.css">'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        f'</head><body><main class="narrow"><h1>{escape(title)}</h1><p>{escape(detail)}</p>'
        '<p><a href="/">Back to the overview</a></p></main></body></html>'
    )


class WebSessionMiddleware(ASGIMiddleware):
    """Session, CSRF, security headers and the audit of writes for the dashboard routes."""

    scopes: Scopes = (ScopeType.HTTP,)  # type: ignore[assignment]

    # Stateless: Litestar copies a Router's middleware; the sessions and the secret live
    # in the app's state (``Dashboard.state()``).

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["litestar_app"].state
        services, sessions, secret = state.services, state.web_sessions, state.web_secret
        handler = scope.get("route_handler")
        open_route = bool(handler is not None and handler.opt.get(OPEN_OPT))
        send = _with_security_headers(send, static=scope["path"].startswith("/static/"))
        cookies = cookies_of(scope)
        scope["state"]["web_cookies"] = cookies
        principal, session = self._principal(services, sessions, cookies.get(SESSION_COOKIE, ""))
        if principal is not None:
            scope["user"] = principal
            scope["state"]["web_session"] = session
        method = scope["method"]
        if not open_route and principal is None:
            if method in WRITE_METHODS:
                await send_simple(send, 401, _refusal("Signed out", "Sign in again at /login."))
            else:
                target = scope["path"] + (
                    "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
                )
                await send_simple(
                    send, 303, "", [(b"location", f"/login?next={quote(target)}".encode())]
                )
            return
        if method not in WRITE_METHODS:
            await next_app(scope, receive, send)
            return
        body, receive = await _read_body(receive)
        if body is None:
            await send_simple(send, 413, _refusal("Too large", "The form is too large."))
            return
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        expected = (
            session.csrf
            if session is not None
            else login_csrf(secret, cookies.get(LOGIN_COOKIE, ""))
            if cookies.get(LOGIN_COOKIE)
            else None
        )
        given = form.get(CSRF_FIELD, "")
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            self._audit(services, scope, principal, 403, "CSRF token missing or wrong")
            await send_simple(
                send,
                403,
                _refusal(
                    "Form refused",
                    "The form's security token is missing or out of date. "
                    "Reload the page and try again.",
                ),
            )
            return
        scope["state"]["web_form"] = form
        capture = StatusCapture(send)
        try:
            await next_app(scope, receive, capture)
        finally:
            if principal is not None:  # sign-in attempts are audited by the login page
                self._audit(services, scope, principal, capture.status, None)

    def _principal(
        self, services: Any, sessions: SessionStore, sid: str
    ) -> tuple[Principal | None, Session | None]:
        if not sid:
            return None, None
        session = sessions.get(sid)
        if session is None:
            return None, None
        key = services.keys.get(session.key_id)
        if key is None or not key.active:
            sessions.end(sid)
            return None, None
        return Principal(key.id, key.name, key.role), session

    def _audit(
        self,
        services: Any,
        scope: Scope,
        principal: Principal | None,
        status: int | None,
        detail: str | None,
    ) -> None:
        services.audit.record(
            AuditEntry(
                actor=principal.actor if principal else "anonymous",
                actor_name=principal.name if principal else None,
                role=principal.role if principal else None,
                action=f"{scope['method']} {scope['path']} (dashboard)",
                client=client_address(scope),
                outcome=outcome_for(status),
                status=status,
                detail=detail,
            )
        )


def _with_security_headers(send: Send, *, static: bool) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {n.lower() for n, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0] not in names]
            if not static and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body (None when over MAX_FORM_BYTES) and a receive that replays it."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


__all__ = [
    "CSRF_FIELD",
    "LOGIN_COOKIE",
    "OPEN_OPT",
    "SESSION_COOKIE",
    "SessionStore",
    "WebSessionMiddleware",
    "login_csrf",
    "set_cookie",
]
