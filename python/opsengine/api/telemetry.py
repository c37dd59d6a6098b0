"""The engine's own metrics, exposed at ``/metrics`` in the Prometheus text format.

Each app gets its own registry (tests build several apps in one process). Ingest rates
come from the ``*_total`` counters (``rate()`` in Prometheus); queue depth is read from
the work queue when scraped; store append and rule matching times are per-batch
histograms fed by the ingest paths; HTTP durations are labelled by route template,
never by the raw path, so the number of series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Scopes, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

_BATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_duration = Histogram(
            "opsengine_http_request_duration_seconds",
            "HTTP request durations by route template",
            ["method", "route", "status"],
            registry=r,
        )
        self.ingest_records = Counter(
            "opsengine_ingest_records",
            "Records received over HTTP, by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.ingest_events = Counter(
            "opsengine_ingest_events", "Rule matches (events) from ingested log lines", registry=r
        )
        self.store_append_seconds = Histogram(
            "opsengine_store_append_seconds",
            "Time to append one ingest batch to the store",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.rule_eval_seconds = Histogram(
            "opsengine_rule_evaluation_seconds",
            "Time to parse headers and match the log rules on one ingest batch",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "opsengine_ingest_queue_depth", "Ingest batches waiting or running", registry=r
        )
        self.queue_capacity = Gauge(
            "opsengine_ingest_queue_capacity", "Ingest batches the queue holds", registry=r
        )
        self.queue_full = Counter(
            "opsengine_ingest_queue_full",
            "Ingest requests refused with 503: queue full",
            registry=r,
        )
        self.auth_failures = Counter(
            "opsengine_api_auth_failures", "Requests with a missing or invalid token", registry=r
        )
        self.rate_limited = Counter(
            "opsengine_api_rate_limited", "Requests refused with 429", ["reason"], registry=r
        )

    def watch_queue(self, depth: Callable[[], int], capacity: int) -> None:
        self.queue_depth.set_function(depth)
        self.queue_capacity.set(capacity)

    def watch_counters(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        """Expose engine counters kept elsewhere: ``{name: (help, value)}`` read at scrape time."""
        self.registry.register(_ReadAtScrape(read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ReadAtScrape:
    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.read = read

    def describe(self):
        return []

    def collect(self):
        for name, (help_text, value) in self.read().items():
            yield CounterMetricFamily(name, help_text, value=value)


class StatusCapture:
    """An ASGI ``send`` that passes messages on and remembers the response status."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500  # if no response starts, the request failed

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class RequestTimingMiddleware(ASGIMiddleware):
    """Observes every HTTP request's duration into ``opsengine_http_request_duration_seconds``."""

    scopes: Scopes = (ScopeType.HTTP,)  # type: ignore[assignment]

    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        capture = StatusCapture(send)
        status = 500
        try:
            await next_app(scope, receive, capture)
            status = capture.status
        except Exception as exc:
            # Raised by an inner middleware (401, 429): answered by the app's handlers later.
            status = getattr(exc, "status_code", None) or getattr(exc, "status", 500)
            raise
        finally:
            route = scope.get("path_template") or "unmatched"
            self.metrics.http_duration.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
