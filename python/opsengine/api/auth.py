"""Authentication, roles and the audit of writes: the middleware every API route passes.

A request carries ``Authorization: Bearer <token>``. The middleware resolves the token to
a :class:`Principal` (``request.user``), applies the per-key rate limit (429 +
``Retry-After``), records failed authentications, and after the response records every
write (POST/PUT/PATCH/DELETE) with its status. Roles are checked by guards on each
route: ``guards=[VIEWER]``, ``[OPERATOR]`` or ``[ADMIN]``; ``create_app`` refuses to start
if an ``/api`` route has none. Routes with ``opt={"public": True}`` (health, metrics) and
the OpenAPI document skip authentication.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Scopes, Send

from opsengine.access.audit import AuditEntry, AuditTrail, outcome_for
from opsengine.access.keys import ROLES, KeyStore, token_key_id
from opsengine.api.errors import ApiError
from opsengine.api.ratelimit import RateLimiter
from opsengine.api.telemetry import ApiMetrics, StatusCapture

log = logging.getLogger("opsengine.api")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_OPT = "public"
# Failed logins from one address beyond this rate get 429 and are counted, not each
# written to the audit log, so a password-guessing flood cannot grow the table unbounded.
FAILED_AUTH_PER_SECOND = 5.0


@dataclass(frozen=True)
class Principal:
    """The caller: the API key that authenticated the request."""

    key_id: str
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def requires(role: str):
    """A guard that lets through keys of ``role`` or a higher one."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    needed = ROLES.index(role)

    # async although it never waits: Litestar runs a sync guard in a worker thread, and that
    # hop cost more than the rest of a small GET (measured with py-spy on the incident list).
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            raise NotAuthorizedException("this route needs an API token")
        if ROLES.index(principal.role) < needed:
            raise PermissionDeniedException(
                f"this route needs the {role} role; key {principal.key_id} has {principal.role}"
            )

    guard.role = role  # type: ignore[attr-defined]  # read by create_app's check
    guard.__name__ = f"requires_{role}"
    return guard


VIEWER = requires("viewer")
OPERATOR = requires("operator")
ADMIN = requires("admin")


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class AuthMiddleware(ASGIMiddleware):
    scopes: Scopes = (ScopeType.HTTP,)  # type: ignore[assignment]
    exclude_path_pattern = ("^/schema",)
    exclude_opt_key = PUBLIC_OPT

    def __init__(
        self,
        keys: KeyStore,
        audit: AuditTrail,
        limiter: RateLimiter,
        metrics: ApiMetrics,
    ) -> None:
        self.keys = keys
        self.audit = audit
        self.limiter = limiter
        self.failed_limiter = RateLimiter(FAILED_AUTH_PER_SECOND, 4 * FAILED_AUTH_PER_SECOND)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method = scope["method"]
        action = f"{method} {scope['path']}"
        client = client_address(scope)
        principal = await self._authenticate(scope, action, client)
        wait = self.limiter.acquire(principal.key_id)
        if wait:
            self.metrics.rate_limited.labels("key").inc()
            raise ApiError(
                429,
                f"rate limit of {self.limiter.rate:g} requests/s for key {principal.key_id} "
                f"exceeded; retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )
        scope["user"] = principal
        scope["auth"] = principal.key_id
        if method not in WRITE_METHODS:
            await next_app(scope, receive, send)
            return

        capture = StatusCapture(send)
        try:
            await next_app(scope, receive, capture)
        finally:
            self._record(
                AuditEntry(
                    actor=principal.actor,
                    actor_name=principal.name,
                    role=principal.role,
                    action=action,
                    client=client,
                    outcome=outcome_for(capture.status),
                    status=capture.status,
                )
            )

    async def _authenticate(self, scope: Scope, action: str, client: str) -> Principal:
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            why, claimed = "no Authorization header", None
        elif scheme.lower() != "bearer" or not token:
            why, claimed = "Authorization is not 'Bearer <token>'", None
        else:
            key, why = self.keys.authenticate(token)
            if key is not None:
                return Principal(key.id, key.name, key.role)
            claimed = token_key_id(token)
        self.metrics.auth_failures.inc()
        wait = self.failed_limiter.acquire(client)
        if wait:
            self.metrics.rate_limited.labels("failed_auth").inc()
            raise ApiError(
                429,
                f"too many failed authentications from {client}; retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )
        self._record(
            AuditEntry(
                actor=f"key:{claimed}" if claimed else "anonymous",
                action=action,
                client=client,
                outcome="unauthenticated",
                status=401,
                detail=why,
            )
        )
        raise NotAuthorizedException(f"authentication failed: {why}")

    def _record(self, entry: AuditEntry) -> None:
        self.audit.record(entry)  # buffered; written within a second by the audit flusher
