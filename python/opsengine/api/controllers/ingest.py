"""``POST /api/v1/ingest/{logs,metrics,alertmanager}``: data in over HTTP.

Each request's body is decoded and checked whole (``ingest_formats``), then handed to the
bounded work queue as one batch; a full queue answers 503 with ``Retry-After`` at once.
The answer says how many records were accepted and rejected, and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import anyio.to_thread
import msgspec
import pyarrow as pa
from litestar import Controller, Request, post
from litestar.params import QueryParameter

from opsengine.api import ingest_formats as fmt
from opsengine.api.auth import OPERATOR
from opsengine.api.context import ApiServices, ServicesDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.openapi_bodies import BINARY, OBJECT, TEXT, raw_body
from opsengine.api.otlp import decompress
from opsengine.api.workqueue import QueueClosed, QueueFull
from opsengine.incidents.alertmanager import AlertmanagerPayloadError, alertmanager_changes

LOG_TYPES = {
    "": fmt.TEXT,
    "text/plain": fmt.TEXT,
    "application/x-ndjson": fmt.NDJSON,
    "application/jsonl": fmt.NDJSON,
    **dict.fromkeys(fmt.ARROW_STREAM_TYPES, fmt.ARROW),
}
METRIC_TYPES = {
    "text/plain": fmt.PROMETHEUS,
    "application/openmetrics-text": fmt.PROMETHEUS,
    "application/json": fmt.JSON,
    "application/x-ndjson": fmt.JSON,
    **dict.fromkeys(fmt.ARROW_STREAM_TYPES, fmt.ARROW),
}
RETRY_AFTER_S = 1
CONFLICT_REASON = "a different value at a timestamp already stored for the series"


class IngestReport(msgspec.Struct):
    """What happened to a request's records; ``rejected_reasons`` maps why → how many."""

    accepted: int
    rejected: int
    rejected_reasons: dict[str, int]
    # Rule matches on the accepted log lines; null when the lines were stored in one
    # transaction with other requests' lines (stored_with > 0), which shares the count.
    events: int | None = 0
    seconds: float = 0.0  # engine time spent storing (shared when stored_with > 0)
    stored_with: int = 0  # other requests stored in the same transaction


def _queue_full(services: ApiServices, e: Exception) -> ApiError:
    services.metrics.queue_full.inc()
    return ApiError(
        503,
        f"{e}; nothing was stored, retry in {RETRY_AFTER_S}s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def store_logs(
    services: ApiServices, batches: list[tuple[fmt.DecodedLogs, str | None, str | None]]
) -> list[IngestReport]:
    """Store the lines of one or more requests, one engine call per (source, host)."""
    by_key: dict[tuple[str, str | None], list[pa.Array]] = {}
    for decoded, source, host in batches:
        for g in decoded.groups:
            key = (g.source or source or "http", g.host or host)
            by_key.setdefault(key, []).append(g.lines)
    events = 0
    seconds = 0.0
    for (source, host), arrays in by_key.items():
        lines = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
        result = services.engine.ingest_logs(lines, source=source, host=host)
        events += result.events
        seconds += result.seconds
        stages = result.stages
        services.metrics.rule_eval_seconds.observe(
            stages.get("parse", 0.0) + stages.get("match", 0.0)
        )
        services.metrics.store_append_seconds.observe(stages.get("store", 0.0))
    services.metrics.ingest_events.inc(events)
    alone = len(batches) == 1
    return [
        IngestReport(
            sum(len(g.lines) for g in decoded.groups),
            sum(decoded.rejected.values()),
            decoded.rejected,
            events=events if alone else None,
            seconds=round(seconds, 6),
            stored_with=len(batches) - 1,
        )
        for decoded, _, _ in batches
    ]


async def queue_logs(
    services: ApiServices,
    decoded: fmt.DecodedLogs,
    source: str | None,
    host: str | None,
    *,
    size: int,
) -> IngestReport:
    """Store decoded log lines through the queue, with other waiting log requests."""
    try:
        future = services.queue.submit_mergeable(
            "logs", partial(store_logs, services), (decoded, source, host), size=size
        )
    except (QueueFull, QueueClosed) as e:
        raise _queue_full(services, e) from None
    return count_records(services, "logs", await asyncio.wrap_future(future))


async def in_queue(
    services: ApiServices, job: Callable[[], IngestReport], body: bytes
) -> IngestReport:
    try:
        future = services.queue.submit(job, size=len(body))
    except (QueueFull, QueueClosed) as e:
        raise _queue_full(services, e) from None
    return await asyncio.wrap_future(future)


def store_samples(services: ApiServices, table: pa.Table, rejected: dict[str, int]) -> IngestReport:
    """Store decoded samples; those the engine refuses (future-dated, or a different value
    at a timestamp already stored) are reported as rejected, with why."""
    if not table.num_rows:
        return IngestReport(0, sum(rejected.values()), rejected)
    counts = services.engine.metrics.ingest_counted(table)
    rejected = dict(rejected)
    for why, n in (
        (services.engine.future.rejection(), counts.future),
        (CONFLICT_REASON, counts.conflicts),
    ):
        if n:
            rejected[why] = rejected.get(why, 0) + n
    return IngestReport(counts.accepted, sum(rejected.values()), rejected)


async def _body(request: Request, services: ApiServices) -> bytes:
    """The request body after ``Content-Encoding`` (gzip or none; inflated within the limit)."""
    return decompress(
        await request.body(), request.headers.get("content-encoding"), services.api.max_body_bytes
    )


def _name_param(name: str, value: str | None) -> str | None:
    if value is not None and not 0 < len(value) <= fmt.MAX_NAME_CHARS:
        raise ApiError(
            422,
            f"query parameter {name!r} must be 1..{fmt.MAX_NAME_CHARS} characters",
            errors=[FieldError(f"query:{name}", "bad length")],
        )
    return value


def count_records(services: ApiServices, kind: str, report: IngestReport) -> IngestReport:
    m = services.metrics.ingest_records
    m.labels(kind, "accepted").inc(report.accepted)
    if report.rejected:
        m.labels(kind, "rejected").inc(report.rejected)
    return report


class IngestController(Controller):
    path = "/api/v1/ingest"
    guards = [OPERATOR]
    tags = ["ingest"]

    @post(
        "/logs",
        status_code=200,
        summary="Ingest log lines: text/plain, application/x-ndjson or an Arrow IPC stream",
        operation_class=raw_body(
            "Lines separated by \\n; or one JSON object per line with line (or message), "
            "host and source; or an Arrow IPC stream with those columns.",
            {
                "text/plain": TEXT,
                "application/x-ndjson": TEXT,
                "application/vnd.apache.arrow.stream": BINARY,
            },
        ),
    )
    async def logs(
        self,
        request: Request,
        services: ServicesDep,
        source: Annotated[
            str | None, QueryParameter(description="stream name (default: http)")
        ] = None,
        host: Annotated[
            str | None, QueryParameter(description="host (default: from each line)")
        ] = None,
    ) -> IngestReport:
        kind = fmt.media_kind(request.headers.get("content-type"), LOG_TYPES)
        source, host = _name_param("source", source), _name_param("host", host)
        body = await _body(request, services)
        decode = {
            fmt.TEXT: fmt.text_lines,
            fmt.NDJSON: fmt.ndjson_records,
            fmt.ARROW: fmt.arrow_records,
        }
        # Decoding checks the whole body (UTF-8, fields) before anything is queued or stored.
        decoded = await anyio.to_thread.run_sync(decode[kind], body)
        return await queue_logs(services, decoded, source, host, size=len(body))

    @post(
        "/metrics",
        status_code=200,
        summary="Ingest metric samples: Prometheus text, JSON or an Arrow IPC stream",
        operation_class=raw_body(
            "Prometheus text exposition; or JSON samples {name, value, ts?, host?, labels?} "
            "as one array or one object per line; or an Arrow IPC stream with columns ts, "
            "name, value and optional host, labels.",
            {
                "text/plain": TEXT,
                "application/json": OBJECT,
                "application/vnd.apache.arrow.stream": BINARY,
            },
        ),
    )
    async def metrics(
        self,
        request: Request,
        services: ServicesDep,
        host: Annotated[
            str | None, QueryParameter(description="host for samples without one")
        ] = None,
    ) -> IngestReport:
        kind = fmt.media_kind(request.headers.get("content-type"), METRIC_TYPES)
        host = _name_param("host", host)
        body = await _body(request, services)

        def job() -> IngestReport:
            table = fmt.metric_samples(body, kind, datetime.now(UTC), host)
            return store_samples(services, table, {})

        return count_records(services, "metrics", await in_queue(services, job, body))

    @post(
        "/alertmanager",
        status_code=200,
        summary="Receive an Alertmanager webhook (payload version 4)",
        operation_class=raw_body(
            "The Alertmanager webhook payload, version 4.", {"application/json": OBJECT}
        ),
    )
    async def alertmanager(self, request: Request, services: ServicesDep) -> IngestReport:
        fmt.media_kind(request.headers.get("content-type"), {"application/json": fmt.JSON})
        body = await request.body()

        def job() -> IngestReport:
            payload = fmt.decode_json(body, dict)
            try:
                changes = alertmanager_changes(payload)
            except AlertmanagerPayloadError as e:
                raise ApiError(
                    422, f"{e}; nothing was stored", errors=[FieldError(f"$.{e.field}", str(e))]
                ) from None
            stored = services.engine.alerts.publish(changes) if changes.num_rows else 0
            return IngestReport(stored, 0, {})

        return count_records(services, "alerts", await in_queue(services, job, body))
