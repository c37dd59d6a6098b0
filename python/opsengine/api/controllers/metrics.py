"""``GET /metrics``: the engine's own metrics in the Prometheus text format, open without a token."""

from __future__ import annotations

from litestar import Controller, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from opsengine.api.auth import PUBLIC_OPT
from opsengine.api.context import ServicesDep

# Litestar adds "; charset=utf-8" to text types itself: without it here, it is said once.
MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class MetricsExpositionController(Controller):
    path = "/metrics"
    opt = {PUBLIC_OPT: True}  # noqa: RUF012
    tags = ["health"]  # noqa: RUF012

    @get(
        "/",
        sync_to_thread=False,
        media_type=MEDIA_TYPE,
        summary="Prometheus text exposition of engine metrics",
    )
    def exposition(self, services: ServicesDep) -> Response[bytes]:
        return Response(services.metrics.exposition(), media_type=MEDIA_TYPE)
