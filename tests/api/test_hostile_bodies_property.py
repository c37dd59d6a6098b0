"""The class behind issue 14's crash: every HTTP decoder, fed generated hostile bodies.

One real ``opsengine run`` process serves all examples over HTTP. Each decoder (NDJSON,
JSON metrics, Prometheus text, Alertmanager, OTLP protobuf and JSON, Arrow IPC) receives
deep nesting, huge and special numbers, odd encodings, truncated and bit-flipped valid
bodies. Every answer must be a 2xx, or a 4xx with an RFC 9457 problem body (OTLP
answers its own protobuf or JSON on success); no 5xx; and the process must stay up (a
crash in native code ends the process, which the checks after each example notice).
Bounded: ``max_examples`` per decoder and no per-example deadline (the machine is shared).
"""

from __future__ import annotations

import functools
import gzip
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.api_helpers import PROBLEM_JSON, RunningEngine

EXAMPLES = 25  # per decoder: about a minute in all

ENDPOINTS = [
    ("/api/v1/ingest/logs", "text/plain"),
    ("/api/v1/ingest/logs", "application/x-ndjson"),
    ("/api/v1/ingest/logs", "application/vnd.apache.arrow.stream"),
    ("/api/v1/ingest/metrics", "text/plain"),
    ("/api/v1/ingest/metrics", "application/json"),
    ("/api/v1/ingest/metrics", "application/vnd.apache.arrow.stream"),
    ("/api/v1/ingest/alertmanager", "application/json"),
    ("/v1/logs", "application/json"),
    ("/v1/logs", "application/x-protobuf"),
    ("/v1/metrics", "application/json"),
    ("/v1/metrics", "application/x-protobuf"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    running = RunningEngine(
        tmp_path_factory.mktemp("hostile"), extra_env={"OPSENGINE_API_RATE_LIMIT": "0"}
    )
    yield running
    code, output = running.stop()
    assert code == 0, output


def post(engine: RunningEngine, path: str, ctype: str, body: bytes, encoding: str | None):
    headers = {"Authorization": f"Bearer {engine.token}", "Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(engine.url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers.get("content-type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read()


# -- bodies ----------------------------------------------------------------------
NUMBERS = st.sampled_from(
    ["1e300", "-1e309", "1e999", "NaN", "Infinity", "-0", "0.0000000000000000000001",
     "123456789012345678901234567890123456789", "1" * 400, "9" * 20, "\"+Inf\"", "null"]
)  # fmt: skip


def nested(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = '{"a":' if opener == "{" else "["
    return (inner * depth) + "1" + (closer * depth)


@st.composite
def deep(draw) -> bytes:
    # The bound (64), around it, and where native readers used to fall over (~10,000).
    depth = draw(
        st.one_of(st.sampled_from([64, 65, 1_000, 10_000, 20_000]), st.integers(1, 20_000))
    )
    value = nested(depth, draw(st.sampled_from(["[", "{"])))
    field = draw(st.sampled_from(["line", "host", "name", "value", "labels", "alerts", "ts"]))
    shape = draw(st.sampled_from(["record", "array", "bare", "otlp"]))
    if shape == "record":
        text = f'{{"line":"x","name":"m","value":1,"{field}":{value}}}\n'
    elif shape == "array":
        text = f'[{{"name":"m","value":1,"{field}":{value}}}]'
    elif shape == "otlp":
        text = f'{{"resourceMetrics":[{{"resource":{{"attributes":{value}}}}}],"resourceLogs":{value}}}'
    else:
        text = value
    return text.encode()


@st.composite
def huge_numbers(draw) -> bytes:
    n, ts = draw(NUMBERS), draw(NUMBERS)
    return draw(
        st.sampled_from(
            [
                f'{{"name":"pz_n","value":{n},"ts":{ts}}}\n'.encode(),
                f'[{{"name":"pz_n","value":{n},"ts":{ts}}}]'.encode(),
                f"pz_n {n.strip(chr(34))} {ts.strip(chr(34))}\n".encode(),
                f'{{"version":"4","status":"firing","alerts":[{{"status":"firing","labels":'
                f'{{"alertname":"x"}},"startsAt":{ts}}}]}}'.encode(),
                f'{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"pz","gauge":'
                f'{{"dataPoints":[{{"asDouble":{n},"timeUnixNano":{ts}}}]}}}}]}}]}}]}}'.encode(),
            ]
        )
    )


ODD = st.sampled_from(
    [
        b"\xff\xfe" + "line".encode("utf-16-le"),  # UTF-16 with a BOM
        b'\xef\xbb\xbf{"line":"bom"}\n',
        b"\xc0\xaf\n",  # overlong UTF-8
        b"\xed\xa0\x80\n",  # an encoded surrogate
        b"line\x00with\x00nul\n",
        b"\x1b[31mred\x1b[0m \xe2\x80\xae reversed\n",
        b'{"line":"\\ud800"}\n',  # a lone surrogate escape
        b"\r\r\r\n\n\r",
        b"",
    ]
)


def valid_bodies() -> list[bytes]:
    now = datetime.now(UTC)
    table = pa.table({"line": ["a", "b"], "host": ["h", None]})
    metrics = pa.table(
        {
            "ts": pa.array([now], pa.timestamp("us", "UTC")),
            "name": ["pz_arrow"],
            "value": [1.0],
        }
    )
    streams = []
    for t in (table, metrics):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        streams.append(sink.getvalue().to_pybytes())
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "pz_proto"
    point = metric.gauge.data_points.add()
    point.as_double = 2.0
    point.time_unix_nano = int(now.timestamp() * 1e9)
    attr = point.attributes.add()
    attr.key = "deep"
    value: AnyValue = attr.value
    for _ in range(150):  # deeper than protobuf's recursion limit (100)
        kv = value.kvlist_value.values.add()
        kv.key = "k"
        value = kv.value
    value.string_value = "bottom"
    return [
        *streams,
        request.SerializeToString(),
        b'{"line":"ok","host":"h1"}\n{"message":"two"}\n',
        b'# TYPE pz_t gauge\npz_t{a="b"} 1\n',
        json.dumps({"version": "4", "status": "firing", "alerts": []}).encode(),
    ]


@st.composite
def damaged(draw) -> bytes:
    body = draw(st.sampled_from(valid_bodies()))
    if draw(st.booleans()):
        return body[: draw(st.integers(0, len(body)))]
    flips = draw(st.lists(st.tuples(st.integers(0, max(0, len(body) - 1)), st.integers(0, 255)),
                          max_size=8))  # fmt: skip
    raw = bytearray(body)
    for at, byte in flips:
        if raw:
            raw[at] = byte
    return bytes(raw)


@functools.cache
def gzip_bomb() -> bytes:
    """40 KiB that inflate to 40 MiB, past the 32 MiB body limit."""
    return gzip.compress(b"0" * (40 << 20), compresslevel=9)


HOSTILE = st.one_of(deep(), huge_numbers(), ODD, damaged(), st.binary(max_size=2048))


def with_deep_examples(test):
    """Every decoder gets a 20,000-deep record whatever is generated (the issue's crash)."""
    body = b'{"line":"x","host":' + nested(20_000, "[").encode() + b"}\n"
    for endpoint in ENDPOINTS:
        test = example(endpoint=endpoint, body=body, gzipped=None)(test)
    return test


@with_deep_examples
@settings(
    max_examples=EXAMPLES * len(ENDPOINTS),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=HOSTILE,
    gzipped=st.sampled_from([None, "gzip", "gzip-bomb", "gzip-truncated"]),
)
def test_every_decoder_answers_hostile_bodies_with_2xx_or_a_4xx_problem(
    engine, endpoint, body, gzipped
):
    path, ctype = endpoint
    encoding = None
    if gzipped == "gzip":
        body, encoding = gzip.compress(body), "gzip"
    elif gzipped == "gzip-bomb":
        body, encoding = gzip_bomb(), "gzip"
    elif gzipped == "gzip-truncated":
        body, encoding = gzip.compress(body)[:-6], "gzip"
    status, answer_type, answer = post(engine, path, ctype, body, encoding)
    assert engine.proc.poll() is None, "the engine process died:\n" + "".join(engine.errors)
    assert status < 500, (status, answer[:500])
    if status >= 400:
        assert answer_type.startswith(PROBLEM_JSON), (status, answer_type, answer[:300])
        problem = json.loads(answer)
        assert problem["status"] == status and len(problem["detail"]) < 2000
    with urllib.request.urlopen(engine.url + "/health", timeout=120) as r:
        assert r.status == 200
