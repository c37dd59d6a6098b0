"""Metric rules from rule files evaluated by the core, as alert changes (event time only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest
from opsengine.alerts import ALERT_CHANGES, fingerprint
from opsengine.metrics import MetricRuleSet
from opsengine.rules import RuleError

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_MAP = pa.map_(pa.string(), pa.string())


def samples(rows: list[tuple[float, str, str, dict, float]]) -> pa.Table:
    """rows of (seconds after T0, host, name, labels, value)."""
    return pa.table(
        {
            "ts": pa.array([T0 + timedelta(seconds=r[0]) for r in rows], pa.timestamp("us", "UTC")),
            "host": [r[1] for r in rows],
            "name": [r[2] for r in rows],
            "labels": pa.array([list(r[3].items()) for r in rows], _MAP),
            "value": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


def series(host, name, minutes, value, labels=None, every=30):
    """A sample every `every` seconds for `minutes` minutes; value(t_seconds) or constant."""
    f = value if callable(value) else (lambda _t: value)
    return [(t, host, name, labels or {}, f(t)) for t in range(0, minutes * 60, every)]


CPU_RULE = {
    "name": "cpu_hot",
    "kind": "metric",
    "severity": "high",
    "category": "performance",
    "summary": 'CPU {{ $value | printf "%.0f" }}% on {{ $labels.host }}',
    "expr": "cpu_usage_percent > 90",
    "for": "3m",
    "labels": {"team": "ops", "where": "{{ $labels.host }}"},
    "annotations": {"runbook": "see {{ $labels.host }}: {{ $value }}"},
}


def test_pending_firing_resolved_as_alert_changes():
    rules = MetricRuleSet.from_dicts([CPU_RULE])
    data = series("web1", "cpu_usage_percent", 12, lambda t: 95.0 if 120 <= t < 480 else 10.0)
    changes = rules.evaluate(samples(data))
    assert changes.schema == ALERT_CHANGES
    rows = changes.to_pylist()
    assert [(r["state"], r["ts"] - T0) for r in rows] == [
        ("pending", timedelta(minutes=2)),
        ("firing", timedelta(minutes=5)),
        ("resolved", timedelta(minutes=8)),
    ]
    firing = rows[1]
    labels = dict(firing["labels"])
    assert labels == {"host": "web1", "team": "ops", "where": "web1"}
    assert firing["fingerprint"] == fingerprint("cpu_hot", labels)
    assert len({r["fingerprint"] for r in rows}) == 1
    notes = dict(firing["annotations"])
    assert notes == {"summary": "CPU 95% on web1", "runbook": "see web1: 95"}
    assert (firing["active_since"], firing["fired_at"]) == (
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=5),
    )
    assert rows[2]["resolved_at"] == T0 + timedelta(minutes=8)
    assert (firing["severity"], firing["category"], firing["source"]) == (
        "high",
        "performance",
        "metric",
    )


def test_batches_in_arrival_order_match_one_replay():
    data = series("web1", "cpu_usage_percent", 30, lambda t: 99.0 if 300 <= t < 900 else 5.0)
    data += series("web2", "cpu_usage_percent", 30, lambda t: 99.0 if 600 <= t < 1500 else 5.0)
    replay = MetricRuleSet.from_dicts([CPU_RULE]).evaluate(samples(data)).to_pylist()
    live_rules = MetricRuleSet.from_dicts([CPU_RULE])
    live: list[dict] = []
    arrival = sorted(data, key=lambda r: r[0])
    for i in range(0, len(arrival), 11):
        live += live_rules.evaluate(samples(arrival[i : i + 11])).to_pylist()
    key = lambda r: (r["ts"], r["fingerprint"], r["state"])  # noqa: E731
    assert sorted(map(key, live)) == sorted(map(key, replay))
    assert len(replay) == 6


def test_polars_frames_with_categorical_names_are_read_as_is():
    rules = MetricRuleSet.from_dicts([{**CPU_RULE, "for": "0s"}])
    frame = pl.from_arrow(samples(series("web1", "cpu_usage_percent", 3, 97.0))).with_columns(
        pl.col("name").cast(pl.Categorical)
    )
    changes = rules.evaluate(frame)
    assert changes.column("state").to_pylist() == ["firing"]


def test_save_and_restore_keep_a_pending_timer():
    data = series("web1", "cpu_usage_percent", 10, lambda t: 95.0 if t >= 60 else 10.0)
    first, rest = [r for r in data if r[0] < 150], [r for r in data if r[0] >= 150]
    before = MetricRuleSet.from_dicts([CPU_RULE])
    assert before.evaluate(samples(first)).column("state").to_pylist() == ["pending"]
    state = before.save_state()
    assert json.loads(state)["alerts"]["cpu_hot"][0]["state"] == "pending"
    after = MetricRuleSet.from_dicts([CPU_RULE])
    after.restore_state(state)
    fired = after.evaluate(samples(rest)).to_pylist()
    # Pending since 1:00 before the restart; `for: 3m` elapses at 4:00 after it.
    assert [(r["state"], r["ts"] - T0) for r in fired] == [("firing", timedelta(minutes=4))]
    assert fired[0]["active_since"] == T0 + timedelta(minutes=1)
    with pytest.raises(ValueError, match="metric rule state"):
        after.restore_state("not json")


def test_rule_errors_name_the_file_line_and_rule(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "- name: ok\n  kind: metric\n  severity: low\n  category: performance\n"
        "  summary: s\n  expr: up == 0\n"
        "- name: typo\n  kind: metric\n  severity: low\n  category: performance\n"
        "  summary: s\n  expr: rate(up[5m) > 0\n"
    )
    with pytest.raises(RuleError) as err:
        MetricRuleSet.from_yaml(path)
    assert str(err.value).startswith(f"{path}:12: rule 'typo': expr: at column")
    for expr, message in [
        ("nosuchfn(up) > 1", "unknown function 'nosuchfn'"),
        ("rate(up[5minutes]) > 1", "invalid duration '5minutes'"),
        ("up > ", "expected an expression"),
        ("sum(up) by (job", "expected"),
    ]:
        with pytest.raises(RuleError, match="rule 'cpu_hot': expr: ") as err:
            MetricRuleSet.from_dicts([{**CPU_RULE, "expr": expr}])
        assert message in str(err.value), expr
    with pytest.raises(
        RuleError, match=r"rule 'cpu_hot': annotations.runbook: unsupported template"
    ):
        MetricRuleSet.from_dicts([{**CPU_RULE, "annotations": {"runbook": "{{ .Foo }}"}}])
    with pytest.raises(RuleError, match="invalid duration"):
        MetricRuleSet.from_dicts([{**CPU_RULE, "for": "5 minutes"}])


def test_nan_and_infinite_samples_follow_comparison_rules():
    rules = MetricRuleSet.from_dicts([{**CPU_RULE, "for": "0s"}])
    data = [
        (0, "nan", "cpu_usage_percent", {}, float("nan")),
        (0, "inf", "cpu_usage_percent", {}, float("inf")),
        (0, "ninf", "cpu_usage_percent", {}, float("-inf")),
        (61, "nan", "cpu_usage_percent", {}, 1.0),
    ]
    rows = rules.evaluate(samples(data)).to_pylist()
    assert [(dict(r["labels"])["host"], r["state"]) for r in rows] == [("inf", "firing")]
    assert dict(rows[0]["annotations"])["summary"] == "CPU inf% on inf"


def test_out_of_order_and_duplicate_samples_are_counted_not_double_counted():
    rule = {**CPU_RULE, "expr": "count_over_time(cpu_usage_percent[2m]) > 4", "for": "0s"}
    data = series("web1", "cpu_usage_percent", 5, 1.0)
    shuffled = [*data[::-1], data[3]]  # newest first, plus a repeat
    ordered = MetricRuleSet.from_dicts([rule])
    want = ordered.evaluate(samples(data)).to_pylist()
    mixed = MetricRuleSet.from_dicts([rule])
    got = mixed.evaluate(samples(shuffled)).to_pylist()
    assert [(r["ts"], r["state"]) for r in got] == [(r["ts"], r["state"]) for r in want]
    assert mixed.stats()["duplicates"] == 1


# --- the default pack -------------------------------------------------------------


@pytest.fixture(scope="module")
def pack():
    return MetricRuleSet.default()


def fired(rules: MetricRuleSet, data, *, until: datetime | None = None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    changes = rules.evaluate(samples(data)).to_pylist()
    if until is not None:
        changes += rules.advance_to(until).to_pylist()
    for r in changes:
        if r["state"] == "firing":
            out.setdefault(r["rule"], []).append(r)
    return out


def test_default_pack_disk_filling_up_is_predicted_hours_ahead():
    rules = MetricRuleSet.default()
    disk = {"mount": "/var", "device": "sda1", "fstype": "ext4"}
    total = 100e9
    # 15 GB free and 5 GB more used every hour: full in 3 hours.
    free = lambda t: 15e9 - 5e9 * t / 3600  # noqa: E731
    data = series("db1", "disk_free_bytes", 60, free, disk, every=60)
    data += series(
        "db1", "disk_used_percent", 60, lambda t: 100 * (1 - free(t) / total), disk, every=60
    )
    got = fired(rules, data)
    assert list(got) == ["disk_full_predicted"]
    alert = got["disk_full_predicted"][0]
    assert dict(alert["labels"])["mount"] == "/var"
    assert "/var on db1 will be full within 4 hours" in dict(alert["annotations"])["summary"]


def test_default_pack_load_above_cores_and_scrape_target_down():
    rules = MetricRuleSet.default()
    data = series("app1", "load5", 30, 12.0) + series("app1", "cpu_count", 30, 8.0)
    data += series("app2", "load5", 30, 3.0) + series("app2", "cpu_count", 30, 8.0)
    data += series(
        "prom",
        "up",
        30,
        lambda t: 0.0 if t >= 600 else 1.0,
        {"job": "api", "instance": "10.0.0.5:9100"},
    )
    got = fired(rules, data)
    assert sorted(got) == ["load_above_cores", "scrape_target_down"]
    assert [dict(a["labels"])["host"] for a in got["load_above_cores"]] == ["app1"]
    down = got["scrape_target_down"][0]
    assert (
        dict(down["annotations"])["summary"] == "Prometheus target 10.0.0.5:9100 (job api) is down"
    )
    assert down["fired_at"] == T0 + timedelta(minutes=12)  # down from 10:00, for 2m


def test_default_pack_host_down_when_time_moves_on_without_it():
    rules = MetricRuleSet.default()
    data = series("web1", "uptime_seconds", 10, lambda t: 5000.0 + t)
    got = fired(rules, data, until=T0 + timedelta(minutes=20))
    assert list(got) == ["host_down"]
    # Last sample 9:30; silent for 3 minutes (the window (t-3m, t] empty) from 12:30 → 13:00.
    assert got["host_down"][0]["fired_at"] == T0 + timedelta(minutes=13)
    assert got["host_down"][0]["severity"] == "critical"


def test_default_pack_network_errors_read_counters_as_rates():
    rules = MetricRuleSet.default()
    nic = {"interface": "eth0", "direction": "rx"}
    # 5 errors per second, with the counter reset by a reboot at 10:12.
    errs = lambda t: 5.0 * (t if t < 720 else t - 720)  # noqa: E731
    data = series("edge1", "net_errors_total", 30, errs, nic)
    got = fired(rules, data)
    assert list(got) == ["network_errors"]
    assert dict(got["network_errors"][0]["labels"])["interface"] == "eth0"


def test_dictionary_encoded_batches_give_the_alerts_of_plain_ones():
    # pyarrow's dictionary-encoded names, hosts and label maps (what polars and the OTLP
    # decoder hand over) take the core's path without a row buffer; the same samples as
    # plain strings take the general one. Batches cut from one table share dictionaries.
    import random

    from opsengine import _core

    rules: list[_core.MetricRuleSpec] = [
        {"name": n, "expr": e, "for_seconds": f, "keep_firing_for_seconds": 0.0}
        for n, e, f in [
            ("hot", 'cpu{mode="user"} > 80', 120.0),
            ("avg", "avg_over_time(cpu[5m]) > 60", 0.0),
            ("gone", 'absent_over_time(cpu{host="h2"}[3m])', 0.0),
        ]
    ]
    rng = random.Random(3)
    n = 6_000
    t0 = 1_772_445_600_000_000
    ts = sorted(t0 + rng.randrange(40 * 60_000_000) for _ in range(n))
    # h2 and h3 fall silent halfway.
    hosts = [rng.randrange(4 if t <= t0 + 20 * 60_000_000 else 2) for t in ts]
    modes = [rng.randrange(2) for _ in range(n)]
    # h0's user CPU runs hot from minute 10 to 20, long enough for `for: 2m`.
    values = [
        95.0 if h == 0 and m == 0 and 10 <= (t - t0) // 60_000_000 < 20 else rng.uniform(0, 100)
        for t, h, m in zip(ts, hosts, modes, strict=True)
    ]
    host_names = [f"h{i}" for i in range(4)]
    mode_names = ["user", "system"]
    offsets = pa.array(range(n + 1), pa.int32())

    def batches(encoded: bool) -> list[pa.RecordBatch]:
        keys = pa.array(["mode"] * n)
        vals = pa.array([mode_names[m] for m in modes])
        host = pa.array([host_names[h] for h in hosts])
        name = pa.array(["cpu"] * n)
        if encoded:
            keys, vals, host, name = (a.dictionary_encode() for a in (keys, vals, host, name))
        tbl = pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", "UTC")),
                "host": host,
                "name": name,
                "labels": pa.MapArray.from_arrays(offsets, keys, vals),
                "value": pa.array(values),
            }
        )
        return tbl.to_batches(max_chunksize=1_000)

    def run(encoded: bool) -> list[dict]:
        ev = _core.MetricEvaluator(rules)
        out = []
        for b in batches(encoded):
            out.extend(ev.evaluate(b).to_pylist())
        return out

    plain, encoded = run(False), run(True)
    assert plain == encoded
    states = {(c["rule"], c["state"]) for c in plain}
    assert {("hot", "firing"), ("avg", "firing"), ("gone", "firing")} <= states
