"""``GET /health``: liveness and the status of each component, open without a token.

200 while every component is usable, 503 when one is down (a load balancer then stops
sending); ``degraded`` (a full ingest queue, a failing alert subscriber) still answers 200.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Controller, Response, get

from opsengine.api.auth import PUBLIC_OPT
from opsengine.api.context import ApiServices, ServicesDep
from opsengine.store.rows import schema_version


class ComponentStatus(msgspec.Struct):
    status: str  # ok | degraded | down
    detail: dict[str, Any] = {}


class HealthReport(msgspec.Struct):
    status: str
    components: dict[str, ComponentStatus]


_STORE_CHECK_TTL_S = 1.0  # probes poll often; one store round trip a second is enough


def _store(services: ApiServices) -> ComponentStatus:
    now = time.monotonic()
    cached = services.store_check
    if cached and now - cached[0] < _STORE_CHECK_TTL_S:
        return cached[1]
    engine = services.engine
    try:
        # On this thread's own cursor: the store's main connection is not for sharing.
        version = schema_version(engine.store)
        status = ComponentStatus("ok", {"path": str(engine.store.path), "schema_version": version})
    except Exception as e:  # any failure to read means the store is unusable
        status = ComponentStatus("down", {"error": str(e)[:200]})
    services.store_check = (now, status)
    return status


def _queue(services: ApiServices) -> ComponentStatus:
    q = services.queue
    state = "degraded" if q.depth >= q.capacity else "ok"
    return ComponentStatus(state, {"depth": q.depth, "capacity": q.capacity})


def _alerts(services: ApiServices) -> ComponentStatus:
    errors = dict(services.engine.alerts.subscriber_errors)
    return ComponentStatus(
        "degraded" if errors else "ok",
        {"published": services.engine.alerts.published, "subscriber_errors": errors},
    )


class HealthController(Controller):
    path = "/health"
    opt = {PUBLIC_OPT: True}
    tags = ["health"]

    @get("/", sync_to_thread=True, summary="Liveness and per-component status")
    def health(self, services: ServicesDep) -> Response[HealthReport]:
        components = {
            "store": _store(services),
            "ingest_queue": _queue(services),
            "alerts": _alerts(services),
        }
        for name, check in services.health_checks.items():
            try:
                result = check()
                components[name] = ComponentStatus(
                    str(result.get("status", "ok")),
                    {k: v for k, v in result.items() if k != "status"},
                )
            except Exception as e:  # a broken check reports itself; it never breaks /health
                components[name] = ComponentStatus("down", {"error": str(e)[:200]})
        states = {c.status for c in components.values()}
        overall = "down" if "down" in states else "degraded" if "degraded" in states else "ok"
        return Response(
            HealthReport(overall, components), status_code=503 if overall == "down" else 200
        )
