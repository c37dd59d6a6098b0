"""``POST /v1/logs`` and ``POST /v1/metrics``: the OpenTelemetry OTLP/HTTP receiver.

Protobuf (``application/x-protobuf``) or JSON (``application/json``), optionally gzip. An
exporter points at ``http://HOST:8080`` with header ``Authorization: Bearer <token>`` (an
operator key). The answer is the OTLP Export…ServiceResponse in the request's encoding,
with ``partial_success`` counting the records that were not stored and why.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from litestar import Controller, Request, Response, post

from opsengine.api import ingest_formats as fmt
from opsengine.api import otlp
from opsengine.api.auth import OPERATOR
from opsengine.api.context import ServicesDep
from opsengine.api.controllers.ingest import (
    IngestReport,
    count_records,
    in_queue,
    queue_logs,
    store_samples,
)
from opsengine.api.openapi_bodies import BINARY, OBJECT, raw_body


class OtlpController(Controller):
    path = "/v1"
    guards = [OPERATOR]
    tags = ["otlp"]

    @post(
        "/logs",
        status_code=200,
        summary="OTLP/HTTP logs (protobuf or JSON)",
        operation_class=raw_body(
            "An OTLP ExportLogsServiceRequest (gzip allowed).",
            {"application/x-protobuf": BINARY, "application/json": OBJECT},
            {"application/x-protobuf": BINARY, "application/json": OBJECT},
        ),
    )
    async def logs(self, request: Request, services: ServicesDep) -> Response[bytes]:
        kind = fmt.media_kind(request.headers.get("content-type"), otlp.OTLP_TYPES)
        body = otlp.decompress(
            await request.body(),
            request.headers.get("content-encoding"),
            services.api.max_body_bytes,
        )
        decoded = await anyio.to_thread.run_sync(otlp.otlp_logs, body, kind, datetime.now(UTC))
        report = await queue_logs(services, decoded, "otlp", None, size=len(body))
        body = otlp.logs_response(kind, report.rejected, _reasons(report))
        return Response(body, media_type=kind)

    @post(
        "/metrics",
        status_code=200,
        summary="OTLP/HTTP metrics (protobuf or JSON)",
        operation_class=raw_body(
            "An OTLP ExportMetricsServiceRequest (gzip allowed).",
            {"application/x-protobuf": BINARY, "application/json": OBJECT},
            {"application/x-protobuf": BINARY, "application/json": OBJECT},
        ),
    )
    async def metrics(self, request: Request, services: ServicesDep) -> Response[bytes]:
        kind = fmt.media_kind(request.headers.get("content-type"), otlp.OTLP_TYPES)
        body = otlp.decompress(
            await request.body(),
            request.headers.get("content-encoding"),
            services.api.max_body_bytes,
        )

        def job() -> IngestReport:
            table, rejected = otlp.otlp_metrics(body, kind)
            return store_samples(services, table, rejected)

        report = count_records(services, "metrics", await in_queue(services, job, body))
        body = otlp.metrics_response(kind, report.rejected, _reasons(report))
        return Response(body, media_type=kind)


def _reasons(report: IngestReport) -> str:
    return "; ".join(f"{n} {why}" for why, n in report.rejected_reasons.items())
