"""OpenTelemetry OTLP/HTTP payloads (logs and metrics; protobuf or JSON) in the engine's shapes.

Logs become syslog RFC 5424 lines (``<PRI>1 TIME HOST SERVICE - - - BODY``) so that the core's
header parser gives them their event time, host, app and level exactly as it does for any
other line, and the rules match their body. The level comes from the OTLP severity number
(syslog severity = PRI mod 8). Resource attributes ``host.name`` and ``service.name`` name
the host and app. Metrics become samples: gauges and sums per data point, histograms and
summaries as ``<name>_count`` and ``<name>_sum``; exponential histograms are counted as
rejected. Record attributes become labels.

OTLP objects are decoded by the protobuf classes of ``opentelemetry-proto``; the loop over
records is Python's (the payload is structured, there is no block of text to hand over).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import zlib
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from opsengine.api.errors import ApiError, FieldError
from opsengine.api.ingest_formats import DecodedLogs, LogGroup
from opsengine.json_nesting import JsonNestingError, check_nesting
from opsengine.metrics.formats import METRICS_SCHEMA, is_metric_name

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
OTLP_TYPES = {PROTOBUF: PROTOBUF, JSON: JSON}
_POINT_KINDS = ("gauge", "sum", "histogram", "summary")
_HEX_ID_KEYS = frozenset({"traceId", "spanId"})  # hex in OTLP/JSON, base64 in proto3 JSON


def _syslog_severity(number: int, text: str) -> int:
    """OTLP severity number (1..24) or text → syslog severity (0 emergency .. 7 debug)."""
    if number <= 0:
        text = text.lower()
        for word, sev in (("fatal", 2), ("crit", 2), ("err", 3), ("warn", 4), ("debug", 7),
                          ("trace", 7)):  # fmt: skip
            if text.startswith(word):
                return sev
        return 6
    if number <= 8:
        return 7  # trace, debug
    if number <= 12:
        return 6  # info
    if number <= 16:
        return 4  # warn
    if number <= 20:
        return 3  # error
    return 2  # fatal


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after ``Content-Encoding`` (gzip or none), refusing more than ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise ApiError(415, f"Content-Encoding {encoding!r} is not accepted; send gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise ApiError(400, f"the gzip body does not inflate: {e}") from None
    if len(out) > limit:
        raise ApiError(413, f"the body inflates to more than {limit} bytes")
    return out


def _parse(body: bytes, kind: str, message: Any) -> Any:
    try:
        if kind == PROTOBUF:
            message.ParseFromString(body)
        else:
            check_nesting(body)  # json.loads and ParseDict recurse per level
            data = json.loads(body)
            if not isinstance(data, dict):
                raise json_format.ParseError("the JSON body must be an object")
            _ids_to_base64(data)
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (
        DecodeError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        json_format.ParseError,
        JsonNestingError,
    ) as e:
        raise ApiError(
            400,
            f"not a valid OTLP {type(message).__name__} ({kind}): {e}; nothing was stored",
            errors=[FieldError("body", str(e))],
        ) from None
    return message


def _ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _HEX_ID_KEYS and isinstance(v, str):
                # Not hex: left as it is, and the parser names the field.
                with contextlib.suppress(ValueError):
                    node[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                _ids_to_base64(v)
    elif isinstance(node, list):
        for v in node:
            _ids_to_base64(v)


def _value(any_value: Any) -> str | float | None:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("kvlist_value", "array_value"):
        return json.dumps(json_format.MessageToDict(getattr(any_value, kind)), sort_keys=True)
    if kind == "bytes_value":
        return binascii.hexlify(any_value.bytes_value).decode()
    return getattr(any_value, kind)


def _attributes(attrs: Any) -> dict[str, str]:
    out = {}
    for kv in attrs:
        value = _value(kv.value)
        if value is not None:
            out[kv.key] = value if isinstance(value, str) else json.dumps(value)
    return out


def _time(nanos: int) -> datetime | None:
    return datetime.fromtimestamp(nanos / 1e9, UTC) if nanos else None


def otlp_logs(body: bytes, kind: str, now: datetime) -> DecodedLogs:
    request = _parse(body, kind, ExportLogsServiceRequest())
    groups: dict[str | None, list[str]] = {}
    rejected: dict[str, int] = {}
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        host = resource.get("host.name")
        app = _token(resource.get("service.name", "-"))
        lines = groups.setdefault(host, [])
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                text = _value(record.body)
                if text is None or text == "":
                    rejected["empty body"] = rejected.get("empty body", 0) + 1
                    continue
                ts = _time(record.time_unix_nano) or _time(record.observed_time_unix_nano) or now
                pri = 8 + _syslog_severity(record.severity_number, record.severity_text)
                stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                body_text = str(text).replace("\r", " ").replace("\n", " ")
                lines.append(f"<{pri}>1 {stamp} {_token(host or '-')} {app} - - - {body_text}")
    return DecodedLogs(
        [LogGroup(pa.array(v, pa.string()), None, h) for h, v in groups.items() if v], rejected
    )


def _token(text: str) -> str:
    """A syslog header field: no spaces, at most 48 characters (RFC 5424 APP-NAME)."""
    return "".join(c if c.isprintable() and not c.isspace() else "_" for c in text)[:48] or "-"


def otlp_metrics(body: bytes, kind: str) -> tuple[pa.Table, dict[str, int]]:
    request = _parse(body, kind, ExportMetricsServiceRequest())
    rows: dict[str, list] = {name: [] for name in METRICS_SCHEMA.names}
    rejected: dict[str, int] = {}

    def add(name: str, point: Any, value: float, host: str | None, labels: dict) -> None:
        rows["ts"].append(_time(point.time_unix_nano) or datetime.now(UTC))
        rows["host"].append(host)
        rows["name"].append(name)
        rows["labels"].append(list({**labels, **_attributes(point.attributes)}.items()))
        rows["value"].append(value)

    def refuse(reason: str, points: int) -> None:
        rejected[reason] = rejected.get(reason, 0) + points

    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        host = resource.get("host.name")
        labels = {k: v for k, v in resource.items() if k in ("service.name", "job", "instance")}
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                if data in _POINT_KINDS and not is_metric_name(metric.name):
                    # As /api/v1/ingest/metrics: the name is refused, never stored.
                    refuse("invalid metric name", len(getattr(metric, data).data_points))
                    continue
                if data in ("gauge", "sum"):
                    for p in getattr(metric, data).data_points:
                        v = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                        add(metric.name, p, float(v), host, labels)
                elif data in ("histogram", "summary"):
                    for p in getattr(metric, data).data_points:
                        add(f"{metric.name}_count", p, float(p.count), host, labels)
                        add(f"{metric.name}_sum", p, float(p.sum), host, labels)
                else:
                    refuse(f"unsupported metric type {data}", 1)
    return pa.table(rows, schema=METRICS_SCHEMA), rejected


def logs_response(kind: str, rejected: int, why: str) -> bytes:
    """ExportLogsServiceResponse in the request's encoding; partial_success when some failed."""
    answer = ExportLogsServiceResponse()
    if rejected:
        answer.partial_success.rejected_log_records = rejected
        answer.partial_success.error_message = why
    return _encode(kind, answer)


def metrics_response(kind: str, rejected: int, why: str) -> bytes:
    answer = ExportMetricsServiceResponse()
    if rejected:
        answer.partial_success.rejected_data_points = rejected
        answer.partial_success.error_message = why
    return _encode(kind, answer)


def _encode(kind: str, message: Any) -> bytes:
    if kind == PROTOBUF:
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message)).encode()
