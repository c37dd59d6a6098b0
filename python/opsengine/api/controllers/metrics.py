"""``GET /metrics``: the engine's own metrics in the Prometheus text format, open without a token."""

from __future__ import annotations

from litestar import Controller, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from opsengine.api.auth import PUBLIC_OPT
from opsengine.api.context import ServicesDep


class MetricsExpositionController(Controller):
    path = "/metrics"
    opt = {PUBLIC_OPT: True}
    tags = ["health"]

    @get(
        "/",
        sync_to_thread=False,
        media_type=CONTENT_TYPE_LATEST,
        summary="Prometheus text exposition of engine metrics",
    )
    def exposition(self, services: ServicesDep) -> Response[bytes]:
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
