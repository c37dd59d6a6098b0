"""The services a running API shares, handed to controllers by dependency injection.

``create_app`` builds one :class:`ApiServices` and registers two dependencies on the app:
``engine`` (the embedded :class:`~opsengine.engine.Engine`) and ``services`` (this object:
keys, audit, the ingest queue, metrics, settings). A controller method names them as
parameters marked with the aliases below::

    @get("/")
    def list_things(self, engine: EngineDep) -> dict: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from litestar.di import NamedDependency

from opsengine.access.audit import AuditTrail
from opsengine.access.keys import KeyStore
from opsengine.api.ratelimit import RateLimiter
from opsengine.api.telemetry import ApiMetrics
from opsengine.api.workqueue import WorkQueue
from opsengine.config import ApiSettings, Settings
from opsengine.engine import Engine


class ApiServices:
    """Not a dataclass on purpose: Litestar would validate a dataclass field by field on
    every injection; a plain object is handed over as it is."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        keys: KeyStore,
        audit: AuditTrail,
        queue: WorkQueue,
        metrics: ApiMetrics,
        limiter: RateLimiter,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.keys = keys
        self.audit = audit
        self.queue = queue
        self.metrics = metrics
        self.limiter = limiter
        # Components started beside the API (sources, …) that /health reports on: each maps
        # a name to a callable returning {"status": "ok"|"degraded"|"down", ...}.
        self.health_checks: dict[str, Callable[[], dict[str, Any]]] = {}
        self.store_check: tuple[float, Any] | None = None  # (when, status) for /health

    @property
    def api(self) -> ApiSettings:
        return self.settings.api

    def close(self) -> None:
        """Finish every accepted ingest batch and write the audit rows; before the engine closes."""
        self.queue.close()
        self.audit.close()


def build_services(engine: Engine, settings: Settings | None = None) -> ApiServices:
    settings = settings or engine.settings
    api = settings.api
    metrics = ApiMetrics()
    queue = WorkQueue(api.ingest_queue, api.ingest_workers, max_bytes=api.ingest_queue_bytes)
    metrics.watch_queue(lambda: queue.depth, queue.capacity)
    audit = AuditTrail(engine.store)
    metrics.watch_counters(
        lambda: {
            "opsengine_api_audit_dropped": (
                "Audit rows lost because the store refused them for too long",
                float(audit.dropped),
            ),
            "opsengine_alerts_published": (
                "Alert changes stored and handed to subscribers",
                float(engine.alerts.published),
            ),
            "opsengine_alert_subscriber_errors": (
                "Alert subscriber calls that raised",
                float(sum(engine.alerts.subscriber_errors.values())),
            ),
            "opsengine_future_samples_rejected": (
                "Metric samples rejected: dated past the engine clock plus the tolerated skew",
                float(engine.future.samples_rejected),
            ),
            "opsengine_future_log_times_clamped": (
                "Log lines dated past the engine clock plus the skew, given the receive time",
                float(engine.future.log_times_clamped),
            ),
        }
    )
    services = ApiServices(
        engine=engine,
        settings=settings,
        keys=KeyStore(engine.store),
        audit=audit,
        queue=queue,
        metrics=metrics,
        limiter=RateLimiter(api.rate_limit),
    )
    services.health_checks["future_times"] = engine.future.health
    return services


# What handler parameters are annotated with: ``engine: EngineDep``, ``services: ServicesDep``.
EngineDep: TypeAlias = NamedDependency[Engine]
ServicesDep: TypeAlias = NamedDependency[ApiServices]
