"""``/api/v1/config`` and ``/api/v1/inventory``: tracked configuration (``engine.config``)
and the software and hardware inventory with version compliance (``engine.inventory``).

Reading needs viewer; snapshots and approvals need operator (the caller's key is the
"who" of the version or approval, and the approval is written to the audit log);
creating items needs admin. An item name used in several environments takes ``env``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import ADMIN, OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.controllers.incidents import domain_call
from opsengine.api.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    bad_param,
    decode_cursor,
    page,
    time_param,
)
from opsengine.config_mgmt.inventory import HARDWARE_KINDS, SOFTWARE_KINDS

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]


class NewItem(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    paths: list[str]
    env: str
    vary: list[str] = msgspec.field(default_factory=list)
    host: str | None = None
    severity: str = "medium"


class Approval(msgspec.Struct, forbid_unknown_fields=True):
    env: str | None = None
    version: int | None = None  # default: the latest version


class SnapshotRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None  # default: every item
    env: str | None = None


class ConfigController(Controller):
    path = "/api/v1/config"
    guards = [VIEWER]
    tags = ["config"]

    @get("/items", sync_to_thread=True, summary="Tracked items with latest version and baseline")
    def items(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.config.items()

    @post("/items", sync_to_thread=True, status_code=201, guards=[ADMIN], summary="Track an item")
    def create(
        self, request: Request, engine: EngineDep, data: JSONBody[NewItem]
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.config.track(
                data.name, data.paths, env=data.env, vary=data.vary, host=data.host,
                severity=data.severity, actor=request.user.actor, origin="api",
            )
        )  # fmt: skip

    @get("/items/{name:str}/versions", sync_to_thread=True, summary="An item's versions")
    def versions(
        self, engine: EngineDep, name: FromPath[str], env: FromQuery[str | None] = None
    ) -> list[dict[str, Any]]:
        return domain_call(lambda: engine.config.versions(name, env))

    @get("/items/{name:str}/diff", sync_to_thread=True, summary="Unified and key-level diff")
    def diff(
        self,
        engine: EngineDep,
        name: FromPath[str],
        env: FromQuery[str | None] = None,
        from_: Annotated[str | None, QueryParameter(name="from", description="version")] = None,
        to: Annotated[str | None, QueryParameter(description="version")] = None,
    ) -> dict[str, Any]:
        a, b = _version_param("from", from_), _version_param("to", to)
        return domain_call(lambda: engine.config.diff(name, env, a, b))

    @post(
        "/items/{name:str}/approve", sync_to_thread=True, status_code=200, guards=[OPERATOR],
        summary="Approve a version as the item's baseline",
    )  # fmt: skip
    def approve(
        self,
        request: Request,
        engine: EngineDep,
        name: FromPath[str],
        data: JSONBody[Approval | None] = None,
    ) -> dict[str, Any]:
        body = data or Approval()
        return domain_call(
            lambda: engine.config.approve(name, body.env, body.version, actor=request.user.actor)
        )

    @post(
        "/snapshot", sync_to_thread=True, status_code=200, guards=[OPERATOR],
        summary="Snapshot one item or all now",
    )  # fmt: skip
    def snapshot(
        self, request: Request, engine: EngineDep, data: JSONBody[SnapshotRequest | None] = None
    ) -> list[dict[str, Any]]:
        body = data or SnapshotRequest()
        return domain_call(
            lambda: engine.config.snapshot(body.name, body.env, author=request.user.actor)
        )

    @get("/drift", sync_to_thread=True, summary="Drift now: baseline, cross-env, unapproved")
    def drift(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.config.drift()

    @get("/audit", sync_to_thread=True, summary="The config audit trail, newest first")
    def audit(
        self,
        engine: EngineDep,
        item: FromQuery[str | None] = None,
        env: FromQuery[str | None] = None,
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:
        after = decode_cursor(cursor, (datetime, int))
        found = engine.config.audit(
            since=time_param("from", from_), until=time_param("to", to), item=item, env=env,
            before=tuple(after) if after else None, limit=limit + 1,
        )  # fmt: skip
        return page(found, limit, ("ts", "id"))


def _version_param(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise bad_param(name, f"expected a version number (1, 2, ...), got {value!r}")
    return int(value)


def _inventory_kind(kind: str | None, kinds: tuple[str, ...]) -> str | None:
    if kind is not None and kind not in kinds:
        raise bad_param("kind", f"expected one of {', '.join(kinds)}, got {kind!r}")
    return kind


class InventoryController(Controller):
    path = "/api/v1/inventory"
    guards = [VIEWER]
    tags = ["inventory"]

    @get("/software", sync_to_thread=True, summary="Packages, processes and ports per host")
    def software(
        self,
        engine: EngineDep,
        host: FromQuery[str | None] = None,
        kind: Annotated[str | None, QueryParameter(description="deb | python | process | port")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:  # fmt: skip
        after = decode_cursor(cursor, (str, str, str))
        found = engine.inventory.software(
            host, _inventory_kind(kind, SOFTWARE_KINDS), after=tuple(after) if after else None,
            limit=limit + 1,
        )  # fmt: skip
        return page(found, limit, ("host", "kind", "name"))

    @get("/hardware", sync_to_thread=True, summary="CPU, memory, disks, file systems, NICs")
    def hardware(
        self,
        engine: EngineDep,
        host: FromQuery[str | None] = None,
        kind: Annotated[str | None, QueryParameter(description="cpu | memory | disk | filesystem | nic")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> Page:  # fmt: skip
        after = decode_cursor(cursor, (str, str, str))
        found = engine.inventory.hardware(
            host, _inventory_kind(kind, HARDWARE_KINDS), after=tuple(after) if after else None,
            limit=limit + 1,
        )  # fmt: skip
        return page(found, limit, ("host", "kind", "name"))

    @get("/compliance", sync_to_thread=True, summary="Version policies judged per host")
    def compliance(
        self,
        engine: EngineDep,
        status: Annotated[
            str | None, QueryParameter(description="compliant | violation | not_installed")
        ] = None,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in ("compliant", "violation", "not_installed"):
            raise bad_param("status", "expected compliant, violation or not_installed")
        return engine.inventory.compliance(status)
