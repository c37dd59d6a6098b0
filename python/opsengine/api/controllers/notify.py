"""On-call, schedules, silences, maintenance windows, escalation policies, notification
channels and the notification record (``engine.notify``).

``GET /api/v1/oncall`` answers who is on call now (or ``?at=``). Reading needs viewer;
silences and maintenance windows need operator (muting is part of handling incidents);
policies, schedules and channels need admin (they decide who gets woken up). Channel
listings hide webhook URL paths and header values, which often carry tokens.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from opsengine.api.auth import ADMIN, OPERATOR, VIEWER
from opsengine.api.context import EngineDep
from opsengine.api.controllers.incidents import domain_call
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.paging import time_param
from opsengine.store.rows import parse_when


def _body_time(name: FromPath[str], value: str | None) -> datetime | None:
    """A time field of a body: ISO-8601, ``now``, ``-1h`` (ago) or ``2h`` (from now)."""
    if value is None:
        return None
    try:
        return parse_when(value, datetime.now(UTC))
    except ValueError as e:
        raise ApiError(422, f"{name}: {e}", errors=[FieldError(f"$.{name}", str(e))]) from None


class NewSilence(msgspec.Struct, forbid_unknown_fields=True):
    matchers: list[str]
    ends_at: str
    comment: str
    starts_at: str | None = None


class NewMaintenance(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    matchers: list[str]
    starts_at: str
    ends_at: str
    comment: str = ""


class PolicyLevel(msgspec.Struct, forbid_unknown_fields=True):
    targets: list[str]
    delay: str = "15m"


class PolicyBody(msgspec.Struct, forbid_unknown_fields=True):
    levels: list[PolicyLevel]
    repeat: int = 0
    matchers: list[str] = msgspec.field(default_factory=list)


class ScheduleBody(msgspec.Struct, forbid_unknown_fields=True):
    members: list[str]
    start_date: date
    rotation: str = "weekly"
    handoff: str = "09:00"
    timezone: str = "UTC"


class OverrideBody(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    starts_at: str
    ends_at: str


class ChannelBody(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    config: dict[str, Any]
    owner: str | None = None


class OnCallController(Controller):
    path = "/api/v1/oncall"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Who is on call, per schedule, now or at ?at=")
    def on_call(self, engine: EngineDep, at: FromQuery[str | None] = None) -> dict[str, str | None]:
        when = time_param("at", at) or datetime.now(UTC)
        return domain_call(lambda: engine.notify.on_call_now(when))


class ScheduleController(Controller):
    path = "/api/v1/schedules"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="On-call schedules")
    def list_schedules(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.notify.schedules.list()

    @get("/{name:str}", sync_to_thread=True, summary="One schedule with its overrides")
    def schedule(self, engine: EngineDep, name: FromPath[str]) -> dict[str, Any]:
        found = domain_call(lambda: engine.notify.schedules.get(name))
        return {**found, "overrides": engine.notify.schedules.overrides(name)}

    @put("/{name:str}", sync_to_thread=True, guards=[ADMIN], summary="Create or replace")
    def set_schedule(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[ScheduleBody]
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.notify.schedules.set_schedule(
                name, members=data.members, rotation=data.rotation, start_date=data.start_date,
                handoff=data.handoff, timezone=data.timezone,
            )
        )  # fmt: skip

    @post("/{name:str}/overrides", sync_to_thread=True, status_code=201, guards=[ADMIN])
    def add_override(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[OverrideBody]
    ) -> dict[str, Any]:
        starts = _body_time("starts_at", data.starts_at)
        ends = _body_time("ends_at", data.ends_at)
        oid = domain_call(
            lambda: engine.notify.schedules.add_override(name, data.user, starts, ends)
        )
        return {"id": oid, "schedule": name, "user": data.user}

    @delete("/{name:str}", sync_to_thread=True, guards=[ADMIN], summary="Delete a schedule")
    def delete_schedule(self, engine: EngineDep, name: FromPath[str]) -> None:
        domain_call(lambda: engine.notify.schedules.delete(name))


class SilenceController(Controller):
    path = "/api/v1/silences"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Silences (?active=true: in force now)")
    def list_silences(
        self, engine: EngineDep, active: FromQuery[bool] = False
    ) -> list[dict[str, Any]]:
        return engine.notify.silences.list(
            "silence", active_at=datetime.now(UTC) if active else None
        )

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Add a silence")
    def add_silence(
        self, request: Request, engine: EngineDep, data: JSONBody[NewSilence]
    ) -> dict[str, Any]:
        ends = _body_time("ends_at", data.ends_at)
        starts = _body_time("starts_at", data.starts_at)
        sid = domain_call(
            lambda: engine.notify.silences.create_silence(
                data.matchers, starts_at=starts, ends_at=ends, author=request.user.actor,
                comment=data.comment,
            )
        )  # fmt: skip
        return {"id": sid}

    @delete("/{silence_id:int}", sync_to_thread=True, guards=[OPERATOR], summary="Expire now")
    def expire_silence(self, engine: EngineDep, silence_id: FromPath[int]) -> None:
        domain_call(lambda: engine.notify.silences.expire("silence", silence_id))


class MaintenanceController(Controller):
    path = "/api/v1/maintenance-windows"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Maintenance windows")
    def list_windows(
        self, engine: EngineDep, active: FromQuery[bool] = False
    ) -> list[dict[str, Any]]:
        at = datetime.now(UTC) if active else None
        return engine.notify.silences.list("maintenance", active_at=at)

    @post("/", sync_to_thread=True, status_code=201, guards=[OPERATOR], summary="Plan a window")
    def add_window(
        self, request: Request, engine: EngineDep, data: JSONBody[NewMaintenance]
    ) -> dict[str, Any]:
        starts = _body_time("starts_at", data.starts_at)
        ends = _body_time("ends_at", data.ends_at)
        wid = domain_call(
            lambda: engine.notify.silences.create_maintenance(
                data.name, data.matchers, starts_at=starts, ends_at=ends,
                author=request.user.actor, comment=data.comment,
            )
        )  # fmt: skip
        return {"id": wid}

    @delete("/{window_id:int}", sync_to_thread=True, guards=[OPERATOR], summary="End it now")
    def end_window(self, engine: EngineDep, window_id: FromPath[int]) -> None:
        domain_call(lambda: engine.notify.silences.expire("maintenance", window_id))


class PolicyController(Controller):
    path = "/api/v1/escalation-policies"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Escalation policies")
    def list_policies(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.notify.policies.list()

    @put("/{name:str}", sync_to_thread=True, guards=[ADMIN], summary="Create or replace")
    def set_policy(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[PolicyBody]
    ) -> dict[str, Any]:
        levels = [{"targets": lv.targets, "delay": lv.delay} for lv in data.levels]
        return domain_call(
            lambda: engine.notify.policies.set_policy(
                name, levels, repeat=data.repeat, matchers=data.matchers
            )
        )

    @delete("/{name:str}", sync_to_thread=True, guards=[ADMIN], summary="Delete a policy")
    def delete_policy(self, engine: EngineDep, name: FromPath[str]) -> None:
        domain_call(lambda: engine.notify.policies.delete(name))


class ChannelController(Controller):
    path = "/api/v1/notification-channels"
    guards = [ADMIN]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Channels (URL paths and header values hidden)")
    def list_channels(self, engine: EngineDep) -> list[dict[str, Any]]:
        return engine.notify.outbox.channels()

    @put("/{name:str}", sync_to_thread=True, summary="Create or replace a channel")
    def set_channel(
        self, engine: EngineDep, name: FromPath[str], data: JSONBody[ChannelBody]
    ) -> dict[str, Any]:
        return domain_call(
            lambda: engine.notify.outbox.set_channel(name, data.kind, data.config, owner=data.owner)
        )

    @delete("/{name:str}", sync_to_thread=True, summary="Delete a channel")
    def delete_channel(self, engine: EngineDep, name: FromPath[str]) -> None:
        domain_call(lambda: engine.notify.outbox.delete_channel(name))


class NotificationController(Controller):
    path = "/api/v1/notifications"
    guards = [VIEWER]
    tags = ["notify"]

    @get("/", sync_to_thread=True, summary="Notices and their state (sent, failed, in_doubt…)")
    def list_notifications(
        self,
        engine: EngineDep,
        incident_id: FromQuery[int | None] = None,
        state_: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> list[dict[str, Any]]:
        return domain_call(
            lambda: engine.notify.outbox.notifications(
                incident_id=incident_id, state=state_, limit=limit
            )
        )

    @get("/{key:str}/attempts", sync_to_thread=True, summary="Every try of one notice")
    def attempts(self, engine: EngineDep, key: FromPath[str]) -> list[dict[str, Any]]:
        return engine.notify.outbox.attempts(key)

    @post("/{key:str}/retry", sync_to_thread=True, status_code=202, guards=[OPERATOR])
    def retry(self, engine: EngineDep, key: FromPath[str]) -> dict[str, str]:
        domain_call(lambda: engine.notify.outbox.retry(key, datetime.now(UTC)))
        return {"key": key, "state": "pending"}
