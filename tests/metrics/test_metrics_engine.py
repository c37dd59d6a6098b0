"""The metric path through the engine and the CLI: store, evaluate, publish, restart, replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from opsengine import RuleSet
from opsengine.cli import main
from opsengine.engine import Engine
from opsengine.metrics.pipeline import STATE_KEY

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_MAP = pa.map_(pa.string(), pa.string())

RULES = """
- name: error_burst
  kind: metric
  severity: high
  category: error
  summary: '{{ $labels.host }} logs {{ $value | printf "%.1f" }} errors/s'
  expr: rate(app_errors_total[5m]) > 1
  for: 4m
- name: cpu_hot
  kind: metric
  severity: medium
  category: performance
  summary: 'CPU on {{ $labels.host }}'
  expr: cpu_usage_percent > 90
  for: 2m
"""


def errors_at(t: int) -> float:
    """A counter: 0.2/s, then 3/s from 10:10 to 10:25, then 0.2/s again."""
    slow = 0.2 * t
    burst = 3.0 * max(0, min(t, 1500) - 600)
    return slow + burst


def rows(minutes: range) -> list[tuple[int, str, str, float]]:
    out = []
    for m in minutes:
        for s in (0, 20, 40):
            t = m * 60 + s
            out.append((t, "web1", "app_errors_total", errors_at(t)))
            out.append((t, "web1", "cpu_usage_percent", 97.0 if 5 <= m < 15 else 30.0))
    return out


def table(data) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([T0 + timedelta(seconds=r[0]) for r in data], pa.timestamp("us", "UTC")),
            "host": [r[1] for r in data],
            "name": [r[2] for r in data],
            "labels": pa.array([[]] * len(data), _MAP),
            "value": [r[3] for r in data],
        }
    )


def exposition(data) -> str:
    lines = [
        f'{name}{{host="{host}"}} {v!r} {int((T0.timestamp() + t) * 1000)}'
        for t, host, name, v in data
    ]
    return "\n".join(lines) + "\n"


def alerts(engine: Engine) -> list[tuple]:
    return [
        (
            r["rule"],
            r["state"],
            r["active_since"],
            r["fired_at"],
            r["resolved_at"],
            r["fingerprint"],
        )
        for r in engine.query(
            "SELECT * FROM alerts WHERE source = 'metric' ORDER BY rule, active_since"
        ).to_pylist()
    ]


@pytest.fixture
def rule_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def test_live_batches_restart_and_file_replay_give_the_same_alerts(tmp_path, rule_file):
    rules = RuleSet.from_yaml(rule_file)
    data = rows(range(40))
    # Live: one batch per minute, one engine all along.
    with Engine(tmp_path / "live.duckdb", rules=rules, admin_channel=False) as live:
        for m in range(40):
            live.ingest_metrics(table([r for r in data if r[0] // 60 == m]))
        want = alerts(live)
        stored = live.query("SELECT count(*) AS n FROM metrics").column("n")[0].as_py()
    assert stored == len(data)
    assert [(a[0], a[1]) for a in want] == [("cpu_hot", "resolved"), ("error_burst", "resolved")]
    cpu, burst = want
    assert (cpu[2], cpu[3], cpu[4]) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=7),
        T0 + timedelta(minutes=15),
    )
    assert burst[3] - burst[2] == timedelta(minutes=4)

    # Restarted twice mid-incident: pending timers and the rate window survive.
    db = tmp_path / "restart.duckdb"
    for part in (range(0, 12), range(12, 20), range(20, 40)):
        with Engine(db, rules=rules, admin_channel=False) as engine:
            for m in part:
                engine.ingest_metrics(table([r for r in data if r[0] // 60 == m]))
            state = json.loads(engine.store.get_state(STATE_KEY))
    with Engine(db, rules=rules, admin_channel=False) as engine:
        assert alerts(engine) == want
    assert state["alerts"] == {"error_burst": [], "cpu_hot": []}

    # Replay: the recorded samples as one Prometheus text file, through the CLI.
    recording = tmp_path / "incident.prom"
    recording.write_text(exposition(data))
    replay_db = tmp_path / "replay.duckdb"
    assert (
        main(
            ["ingest", "metrics", str(recording), "--db", str(replay_db), "--rules", str(rule_file)]
        )
        == 0
    )
    with Engine(replay_db, rules=rules, admin_channel=False) as replayed:
        assert alerts(replayed) == want


def test_cli_reports_bad_files_with_their_place(tmp_path, rule_file, capsys):
    bad = tmp_path / "bad.prom"
    bad.write_text('up{job="x"} 1\nup{job="x} 1\n')
    db = str(tmp_path / "x.duckdb")
    assert main(["ingest", "metrics", str(bad), "--db", db, "--rules", str(rule_file)]) == 2
    assert f"error: {bad}:2: label 'job': unterminated value" in capsys.readouterr().err
    missing = tmp_path / "none.jsonl"
    assert main(["ingest", "metrics", str(missing), "--db", db, "--rules", str(rule_file)]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad_rule = tmp_path / "bad_rule.yaml"
    bad_rule.write_text(RULES.replace("rate(app_errors_total[5m])", "rate(app_errors_total[5])"))
    assert main(["ingest", "metrics", str(bad), "--db", db, "--rules", str(bad_rule)]) == 2
    assert "rule 'error_burst': expr: at column" in capsys.readouterr().err


def test_cli_reads_json_lines_and_prints_the_alerts(tmp_path, rule_file, capsys):
    lines = [
        json.dumps(
            {
                "name": "cpu_usage_percent",
                "host": "db1",
                "value": 99.0,
                "ts": (T0 + timedelta(seconds=30 * i)).isoformat(),
            }
        )
        for i in range(12)
    ]
    path = tmp_path / "cpu.jsonl"
    path.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "j.duckdb")
    assert main(["ingest", "metrics", str(path), "--db", db, "--rules", str(rule_file)]) == 0
    out = capsys.readouterr().out
    assert (
        f"{path}: 12 samples from 2026-03-02T10:00:00Z to 2026-03-02T10:05:30Z, 2 alert change(s)"
        in out
    )
    assert "firing   cpu_hot" in out


def test_tick_rules_notices_a_host_that_went_silent(tmp_path):
    """The default pack's host_down fires only when time moves on without the host."""
    with Engine(tmp_path / "t.duckdb", admin_channel=False) as engine:
        engine.ingest_metrics(
            table([(10 * i, "web1", "uptime_seconds", 5000.0 + 10 * i) for i in range(30)])
        )
        assert (
            engine.tick_rules(T0 + timedelta(minutes=6)) == 0
        )  # silent 1:10 only, one step behind
        assert engine.tick_rules(T0 + timedelta(minutes=20)) == 1
        (alert,) = engine.alerts.current(state="firing").to_pylist()
        assert (alert["rule"], dict(alert["labels"])["host"]) == ("host_down", "web1")
        # Last sample 4:50; the 3-minute window is empty from 7:50 on: the 8:00 step fires.
        assert alert["fired_at"] == T0 + timedelta(minutes=8)


def test_cli_stores_the_same_file_once(tmp_path, rule_file, capsys):
    path = tmp_path / "scrape.prom"
    path.write_text(exposition(rows(range(3))))
    db = str(tmp_path / "once.duckdb")
    args = ["ingest", "metrics", str(path), "--db", db, "--rules", str(rule_file)]
    assert main(args) == 0
    assert main(args) == 0
    assert "already stored (18 samples from" in capsys.readouterr().out
    with Engine(db, rules=RuleSet.from_yaml(rule_file), admin_channel=False) as engine:
        assert engine.query("SELECT count(*) AS n FROM metrics").column("n")[0].as_py() == 18
