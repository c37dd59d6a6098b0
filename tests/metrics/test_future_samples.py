"""Future-dated samples and log lines cannot move the rules' clock (and so stop alerting).

A sample dated 9999-12-31 used to move the metric rules' evaluation clock to the year 9999,
after which no sample raised an alert. Samples past the engine clock plus the tolerated
skew are now rejected and counted; samples within it are stored but wait for the clock;
a clock saved ahead of time heals on start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from opsengine import RuleSet
from opsengine.engine import Engine
from opsengine.metrics.pipeline import STATE_KEY

from tests.support.api_helpers import running_api

_MAP = pa.map_(pa.string(), pa.string())
RULES = RuleSet.from_dicts(
    [
        {
            "name": "target_down",
            "kind": "metric",
            "severity": "high",
            "category": "availability",
            "summary": "{{ $labels.host }} is down",
            "expr": "up == 0",
        }
    ]
)


def samples(*rows: tuple[datetime, str, str, float]) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([r[0] for r in rows], pa.timestamp("us", "UTC")),
            "host": [r[1] for r in rows],
            "name": [r[2] for r in rows],
            "labels": pa.array([[]] * len(rows), _MAP),
            "value": [r[3] for r in rows],
        }
    )


def a_minute_ago() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)


def firing(engine: Engine) -> list[str]:
    return [dict(a["labels"])["host"] for a in engine.alerts.current(state="firing").to_pylist()]


def down_for_three_minutes(engine: Engine, host: str) -> None:
    t = a_minute_ago()
    engine.ingest_metrics(
        samples(*[(t - timedelta(minutes=m), host, "up", 0.0) for m in (3, 2, 1)])
    )
    engine.ingest_metrics(samples((t, host, "up", 0.0)))
    engine.metrics.advance_to(datetime.now(UTC))


def test_a_sample_dated_year_9999_is_rejected_and_alerting_keeps_working(tmp_path):
    with Engine(tmp_path / "e.duckdb", rules=RULES, admin_channel=False) as engine:
        far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert engine.ingest_metrics(samples((far, "vm", "pz_future", 1.0))) == 0
        assert engine.future.samples_rejected == 1
        assert engine.query("SELECT count(*) FROM metrics").column(0)[0].as_py() == 0
        assert engine.metrics.rules.last_evaluation is None
        down_for_three_minutes(engine, "web1")
        assert firing(engine) == ["web1"]


def test_an_early_sender_within_the_skew_does_not_move_the_clock_of_other_series(tmp_path):
    with Engine(tmp_path / "e.duckdb", rules=RULES, admin_channel=False) as engine:
        early = datetime.now(UTC) + timedelta(minutes=5)  # within the 10m default skew
        assert engine.ingest_metrics(samples((early, "fast-clock", "up", 1.0))) == 1
        last = engine.metrics.rules.last_evaluation
        assert last is None or last <= datetime.now(UTC)
        down_for_three_minutes(engine, "web1")
        assert firing(engine) == ["web1"]
        # Stored at once, shown to the rules when the clock reaches it.
        n = engine.query("SELECT count(*) FROM metrics WHERE host = 'fast-clock'")
        assert n.column(0)[0].as_py() == 1


def test_a_saved_clock_in_the_year_9999_heals_on_start(tmp_path):
    db = tmp_path / "e.duckdb"
    with Engine(db, rules=RULES, admin_channel=False) as engine:
        engine.ingest_metrics(samples((a_minute_ago() - timedelta(minutes=10), "web1", "up", 1.0)))
        state = json.loads(engine.store.get_state(STATE_KEY))
        state["last_eval"] = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)
        state["watermark"] = state["last_eval"]
        engine.store.set_state(STATE_KEY, json.dumps(state))
    with Engine(db, rules=RULES, admin_channel=False) as engine:
        assert engine.metrics.rules.last_evaluation is None
        down_for_three_minutes(engine, "web2")
        assert firing(engine) == ["web2"]
        healed = json.loads(engine.store.get_state(STATE_KEY))
        assert healed["last_eval"] < datetime.now(UTC).timestamp() * 1000 + 600_000


def test_a_log_line_dated_in_the_future_gets_the_receive_time(tmp_path):
    line = "<34>1 2099-01-01T00:00:00Z web1 sshd 42 - - future clock"
    with Engine(tmp_path / "e.duckdb", admin_channel=False) as engine:
        before = datetime.now(UTC)
        engine.ingest_logs([line, "<34>1 2026-01-01T00:00:00Z web1 sshd 42 - - past"])
        rows = engine.query("SELECT ts, raw FROM logs ORDER BY id").to_pylist()
        assert before <= rows[0]["ts"] <= datetime.now(UTC)
        assert rows[0]["raw"] == line  # the claimed time is still in the raw line
        assert rows[1]["ts"] == datetime(2026, 1, 1, tzinfo=UTC)
        assert engine.future.log_times_clamped == 1


@pytest.mark.parametrize("ts", ['"9999-12-31T23:59:59Z"', "1e11"])
def test_the_api_reports_rejected_future_samples_in_the_answer_health_and_metrics(tmp_path, ts):
    with running_api(tmp_path) as api:
        body = f'[{{"name":"pz_future","value":1,"ts":{ts}}},{{"name":"pz_now","value":1}}]'
        r = api.post(
            "/api/v1/ingest/metrics", role="operator", content=body.encode(),
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["accepted"], report["rejected"]) == (1, 1)
        assert report["rejected_reasons"] == {
            "timestamp more than 10m ahead of the engine clock": 1
        }
        health = api.client.get("/health").json()["components"]["future_times"]["detail"]
        assert health["metric_samples_rejected"] == 1
        assert health["max_future_skew_seconds"] == 600
        exposition = api.client.get("/metrics").text
        assert "opsengine_future_samples_rejected_total 1.0" in exposition


def test_the_skew_is_configurable(tmp_path):
    from opsengine.config import Settings

    settings = Settings()
    settings.ingest.max_future_skew = "1h"
    with Engine(tmp_path / "e.duckdb", settings, rules=RULES, admin_channel=False) as engine:
        soon = datetime.now(UTC) + timedelta(minutes=30)
        assert engine.ingest_metrics(samples((soon, "web1", "up", 1.0))) == 1
        later = datetime.now(UTC) + timedelta(minutes=90)
        assert engine.ingest_metrics(samples((later, "web1", "up", 1.0))) == 0
