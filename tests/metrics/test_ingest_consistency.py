"""Every metric path applies the same rules: OTLP refuses the metric names that
/api/v1/ingest/metrics refuses, and a resent sample is stored once (first write wins)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from tests.support.api_helpers import assert_problem, running_api

JSON = {"content-type": "application/json"}


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


def names(api) -> list[str]:
    return api.engine.query("SELECT DISTINCT name FROM metrics ORDER BY name").column(0).to_pylist()


def otlp_gauge(name: str) -> bytes:
    now_ns = int(datetime.now(UTC).timestamp() * 1e9)
    return json.dumps(
        {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": name,
                                    "gauge": {
                                        "dataPoints": [
                                            {"asDouble": 1.5, "timeUnixNano": str(now_ns)}
                                        ]
                                    },
                                },
                                {
                                    "name": "pz_good",
                                    "gauge": {
                                        "dataPoints": [
                                            {"asDouble": 2.5, "timeUnixNano": str(now_ns)}
                                        ]
                                    },
                                },
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()


def test_otlp_refuses_the_metric_names_the_ingest_endpoint_refuses(api):
    bad = "pz bad name!"
    r = api.post(
        "/api/v1/ingest/metrics", role="operator",
        content=json.dumps([{"name": bad, "value": 1}]).encode(), headers=JSON,
    )  # fmt: skip
    assert_problem(r, 422, field="$[0].name")
    r = api.post("/v1/metrics", role="operator", content=otlp_gauge(bad), headers=JSON)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "1" or partial["rejectedDataPoints"] == 1
    assert "invalid metric name" in partial["errorMessage"]
    assert names(api) == ["pz_good"]


def test_arrow_samples_with_an_invalid_name_are_refused_naming_the_column(api):
    table = pa.table(
        {
            "ts": pa.array([datetime.now(UTC)], pa.timestamp("us", "UTC")),
            "name": ["pz bad name!"],
            "value": [1.0],
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    r = api.post(
        "/api/v1/ingest/metrics", role="operator", content=sink.getvalue().to_pybytes(),
        headers={"content-type": "application/vnd.apache.arrow.stream"},
    )  # fmt: skip
    problem = assert_problem(r, 422, field="column:name")
    assert "not a metric name" in problem["detail"]
    assert names(api) == []


def test_a_resent_batch_is_stored_once_and_a_different_value_is_refused(api):
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    batch = [
        {"name": "pz_retry", "value": 1.0, "ts": ts, "host": "web1"},
        {"name": "pz_retry", "value": 1.0, "ts": ts, "host": "web2"},
    ]

    def send(samples):
        r = api.post(
            "/api/v1/ingest/metrics", role="operator", content=json.dumps(samples).encode(),
            headers=JSON,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()

    assert (send(batch)["accepted"], send(batch)["accepted"]) == (2, 2)  # a client retry
    rows = api.engine.query("SELECT host, value FROM metrics ORDER BY host").to_pylist()
    assert rows == [{"host": "web1", "value": 1.0}, {"host": "web2", "value": 1.0}]
    changed = send([{**batch[0], "value": 7.0}, batch[0]])  # in the same batch as well
    assert (changed["accepted"], changed["rejected"]) == (1, 1)
    assert changed["rejected_reasons"] == {
        "a different value at a timestamp already stored for the series": 1
    }
    stored = api.engine.query("SELECT value FROM metrics WHERE host = 'web1'").column(0)
    assert stored.to_pylist() == [1.0]  # the first write wins
