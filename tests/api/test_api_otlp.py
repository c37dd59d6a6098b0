"""OpenTelemetry in: the real OTLP/HTTP exporters of the OpenTelemetry SDK pointed at a running
engine, and hand-written OTLP/JSON, land in ``logs`` and ``metrics``."""

from __future__ import annotations

import logging

import pytest

from tests.support.api_helpers import RunningEngine, assert_problem, running_api

sdk_logs = pytest.importorskip("opentelemetry.sdk._logs", reason="needs opentelemetry-sdk")


def test_the_sdk_exporters_deliver_logs_and_metrics_to_a_running_engine(tmp_path):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    engine = RunningEngine(tmp_path)
    try:
        auth = {"Authorization": f"Bearer {engine.token}"}
        resource = Resource.create({"service.name": "checkout", "host.name": "web7"})

        logs = sdk_logs.LoggerProvider(resource=resource)
        logs.add_log_record_processor(
            SimpleLogRecordProcessor(
                OTLPLogExporter(endpoint=engine.url + "/v1/logs", headers=auth)
            )
        )
        logger = logging.getLogger("test_api_otlp")
        logger.propagate = False
        logger.addHandler(sdk_logs.LoggingHandler(level=logging.INFO, logger_provider=logs))
        logger.error("payment failed for order 42")
        logger.warning("slow response from the bank")
        logs.shutdown()

        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=engine.url + "/v1/metrics", headers=auth),
            export_interval_millis=3_600_000,  # exported by the flush below, never by time
        )
        meters = MeterProvider(resource=resource, metric_readers=[reader])
        meter = meters.get_meter("test")
        meter.create_counter("orders").add(3, {"shop": "eu"})
        meter.create_histogram("latency_seconds").record(0.25)
        meters.force_flush()
        meters.shutdown()

        status, found = engine.call("GET", "/api/v1/logs?source=otlp", engine.token)
        assert status == 200, found
        rows = sorted((x["message"], x["host"], x["app"], x["level"]) for x in found["items"])
        assert rows == [
            ("payment failed for order 42", "web7", "checkout", "error"),
            ("slow response from the bank", "web7", "checkout", "warning"),
        ]
        status, result = engine.call(
            "POST", "/api/v1/sql", engine.token,
            b'{"sql": "SELECT name, host, value, labels FROM metrics ORDER BY name"}',
            ctype="application/json",
        )  # fmt: skip
        assert status == 200, result
        samples = {(r["name"], r["host"], r["value"]) for r in result["rows"]}
        assert samples == {
            ("latency_seconds_count", "web7", 1.0),
            ("latency_seconds_sum", "web7", 0.25),
            ("orders", "web7", 3.0),
        }
        orders = next(r for r in result["rows"] if r["name"] == "orders")
        assert orders["labels"]["shop"] == "eu"
    finally:
        code, output = engine.stop()
    assert code == 0, output


def test_otlp_json_with_hex_trace_ids_is_accepted_and_bad_payloads_are_refused(tmp_path):
    payload = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "db2"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1715335200000000000",
                                "severityNumber": 17,
                                "body": {"stringValue": "deadlock detected"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            },
                            {"timeUnixNano": "1715335200000000000", "body": {}},
                        ]
                    }
                ],
            }
        ]
    }
    with running_api(tmp_path) as api:
        r = api.post("/v1/logs", role="operator", json=payload)
        assert r.status_code == 200, r.text
        assert r.json()["partialSuccess"]["rejectedLogRecords"] == "1"
        rows = api.engine.query("SELECT ts, host, level, message FROM logs").to_pylist()
        assert [(str(x["ts"])[:19], x["host"], x["level"], x["message"]) for x in rows] == [
            ("2024-05-10 10:00:00", "db2", "error", "deadlock detected")
        ]
        bad = api.post(
            "/v1/logs",
            role="operator",
            content=b"\x0a\xff\xff",
            headers={"content-type": "application/x-protobuf"},
        )
        assert_problem(bad, 400)
        assert_problem(api.post("/v1/logs", role="viewer", json=payload), 403)
        assert_problem(api.client.post("/v1/metrics", json={}), 401)
