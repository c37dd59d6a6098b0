"""``/api/v1/keys`` and ``/api/v1/audit``: API keys and the audit log, for admins.

A created key's token is in the response once and never again (only its hash is kept).
Revoking is immediate: the next request with that token gets 401.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.access.keys import MAX_NAME_CHARS, ROLES, ApiKey, KeyError_, LastAdminKeyError
from opsengine.api.auth import ADMIN, Principal
from opsengine.api.context import ServicesDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import DEFAULT_LIMIT, MAX_LIMIT, rows, time_param


class KeyInfo(msgspec.Struct):
    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None


class NewKeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    name: str = ""


class NewKeyResponse(msgspec.Struct):
    key: KeyInfo
    token: str  # shown once: store it now


class AuditPage(msgspec.Struct):
    items: list[dict[str, Any]]
    next_before: str | None


def _info(k: ApiKey) -> KeyInfo:
    return KeyInfo(k.id, k.name, k.role, k.created_at, k.created_by, k.revoked_at, k.revoked_by)


class KeyController(Controller):
    path = "/api/v1/keys"
    guards = [ADMIN]
    tags = ["keys"]

    @get("/", sync_to_thread=False, summary="List API keys (never their tokens)")
    def list_keys(
        self, services: ServicesDep, include_revoked: FromQuery[bool] = True
    ) -> list[KeyInfo]:
        return [_info(k) for k in services.keys.list(include_revoked=include_revoked)]

    @post(
        "/", sync_to_thread=True, status_code=201, summary="Create a key; the token is shown once"
    )
    def create_key(
        self, request: Request, services: ServicesDep, data: JSONBody[NewKeyRequest]
    ) -> NewKeyResponse:
        if data.role not in ROLES:
            raise ApiError(
                422,
                f"role {data.role!r} is not one of {', '.join(ROLES)}",
                errors=[FieldError("$.role", f"expected one of {', '.join(ROLES)}")],
            )
        if len(data.name) > MAX_NAME_CHARS:
            raise ApiError(
                422, "name is too long", errors=[FieldError("$.name", f"at most {MAX_NAME_CHARS}")]
            )
        creator: Principal = request.user
        new = services.keys.create(data.role, data.name, created_by=creator.actor)
        return NewKeyResponse(_info(new.key), new.token)

    @delete("/{key_id:str}", sync_to_thread=True, status_code=200, summary="Revoke a key")
    def revoke_key(self, request: Request, services: ServicesDep, key_id: FromPath[str]) -> KeyInfo:
        try:
            return _info(services.keys.revoke(key_id, revoked_by=request.user.actor))
        except LastAdminKeyError as e:
            raise ApiError(409, str(e)) from None
        except KeyError_ as e:
            raise NotFoundException(str(e)) from None


class AuditController(Controller):
    path = "/api/v1/audit"
    guards = [ADMIN]
    tags = ["keys"]

    @get("/", sync_to_thread=True, summary="The audit log, newest first")
    def audit(
        self,
        services: ServicesDep,
        before: Annotated[str | None, QueryParameter(description="page back: next_before")] = None,
        actor: FromQuery[str | None] = None,
        outcome: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> AuditPage:
        table = services.audit.recent(
            limit=limit + 1, before=time_param("before", before), actor=actor, outcome=outcome
        )
        items = rows(table.slice(0, limit))
        more = table.num_rows > limit
        return AuditPage(items, items[-1]["ts"].isoformat() if more and items else None)
