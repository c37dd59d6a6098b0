"""NaN and ±Inf in JSON answers are the strings "NaN", "+Inf", "-Inf" (as Prometheus' API
spells them), never null, which is SQL NULL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.api_helpers import running_api


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


def test_sql_answers_keep_nan_and_infinities_apart_from_null(api):
    r = api.post(
        "/api/v1/sql",
        json={"sql": "SELECT 'NaN'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::DOUBLE AS c, "
              "NULL::DOUBLE AS d, 1.5::DOUBLE AS e"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [{"a": "NaN", "b": "+Inf", "c": "-Inf", "d": None, "e": 1.5}]


def test_metric_series_points_keep_special_values(api):
    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = [
        {"name": "pz_ratio", "value": "NaN", "ts": ts, "host": "a"},
        {"name": "pz_ratio", "value": "+Inf", "ts": ts, "host": "b"},
    ]
    r = api.post(
        "/api/v1/ingest/metrics", role="operator", content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    found = api.get("/api/v1/metrics/series?name=pz_ratio&from=-1h", role="viewer")
    assert found.status_code == 200, found.text
    last = {s["host"]: s["points"][0]["last"] for s in found.json()["series"]}
    assert last == {"a": "NaN", "b": "+Inf"}
