"""``GET /metrics``: the engine's own metrics in the Prometheus text format, open without a token.

A browser asking for HTML (a person typing /metrics) is sent to the dashboard's metrics
page, ``/metrics/chart``; scrapers never ask for text/html and get the exposition."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from opsengine.api.auth import PUBLIC_OPT
from opsengine.api.context import ServicesDep

# Litestar adds "; charset=utf-8" to text types itself: without it here, it is said once.
MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class MetricsExpositionController(Controller):
    path = "/metrics"
    opt = {PUBLIC_OPT: True}
    tags = ["health"]

    @get(
        "/",
        sync_to_thread=False,
        media_type=MEDIA_TYPE,
        summary="Prometheus text exposition of engine metrics",
    )
    def exposition(self, request: Request, services: ServicesDep) -> Response[bytes]:
        accept = request.headers.get("accept", "")
        if accept.startswith("text/html"):
            return Response(b"", status_code=303, headers={"location": "/metrics/chart"})
        return Response(services.metrics.exposition(), media_type=MEDIA_TYPE)
