"""Maintenance keeps the file bounded beyond the time-stamped tables: series left without
samples go (and come back when they report again), offsets of vanished log files go while
those of files still on disk stay, probe results age out, and ``opsengine run``'s
maintenance clock does it all by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from opsengine.config import RetentionSettings, Settings
from opsengine.engine import Engine
from opsengine.sources.runner import MaintenanceClock
from opsengine.store import Store
from opsengine.store.maintenance import apply_retention
from sources_net import wait_for

NOW = datetime.now(UTC).replace(microsecond=0)
LABELS = pa.map_(pa.string(), pa.string())


def samples(rows) -> pa.Table:
    ts, host, name, value = zip(*rows, strict=True)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "host": list(host),
            "name": list(name),
            "labels": pa.array([[("job", "node")]] * len(rows), LABELS),
            "value": pa.array(value, pa.float64()),
        }
    )


def quiet_settings() -> Settings:
    settings = Settings()
    settings.files.enabled = False
    settings.syslog.enabled = False
    settings.host.enabled = False
    return settings


def test_a_series_without_samples_goes_and_comes_back_when_it_reports(tmp_path):
    old = NOW - timedelta(days=20)
    with Engine(tmp_path / "s.duckdb", quiet_settings(), admin_channel=False) as engine:
        engine.ingest_metrics(samples([(old, "gone1", "load1", 1.0), (NOW, "web1", "load1", 2.0)]))
        report = engine.maintenance(now=NOW)
        assert report.deleted["metrics"] == 1
        assert report.deleted["metric_series"] == 1
        hosts = engine.query("SELECT host FROM metric_series ORDER BY host").to_pylist()
        assert hosts == [{"host": "web1"}]
        # The writer was told: the series is written again with its next sample, so the
        # `metrics` view (samples joined to series) shows it.
        engine.ingest_metrics(samples([(NOW + timedelta(seconds=10), "gone1", "load1", 3.0)]))
        rows = engine.query("SELECT host, value FROM metrics ORDER BY host").to_pylist()
        assert rows == [{"host": "gone1", "value": 3.0}, {"host": "web1", "value": 2.0}]
        # Nothing deleted: nothing pruned.
        assert engine.maintenance(now=NOW).deleted["metric_series"] == 0


def test_offsets_of_vanished_files_go_and_files_on_disk_keep_theirs(tmp_path):
    present = tmp_path / "still-here.log"
    present.write_text("x\n")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    rows = [
        ("a", str(present), old),  # idle but on disk: kept
        ("b", str(tmp_path / "rotated-away.log.1"), old),  # gone for long: forgotten
        ("c", str(tmp_path / "just-rotated.log.1"), recent),  # gone recently: kept
    ]
    with Store(tmp_path / "c.duckdb") as store:
        with store.transaction() as cur:
            for fp, path, at in rows:
                cur.execute(
                    "INSERT INTO file_checkpoints VALUES (?, 'w', ?, 10, 1, ?)", [fp, path, at]
                )
        deleted = apply_retention(store, RetentionSettings(file_checkpoints_days=30), now=NOW)
        assert deleted["file_checkpoints"] == 1
        left = store.query("SELECT fingerprint FROM file_checkpoints ORDER BY 1").to_pylist()
        assert left == [{"fingerprint": "a"}, {"fingerprint": "c"}]
        # 0 keeps them forever.
        none = apply_retention(
            store, RetentionSettings(file_checkpoints_days=0), now=NOW + timedelta(days=90)
        )
        assert none["file_checkpoints"] == 0


def test_probe_results_age_out(tmp_path):
    with Store(tmp_path / "p.duckdb") as store:
        with store.transaction() as cur:
            for days in (1, 100):
                cur.execute(
                    "INSERT INTO probe_results (ts, service, kind, target, ok) "
                    "VALUES (?, 'db', 'tcp', '127.0.0.1:1', true)",
                    [NOW - timedelta(days=days)],
                )
        deleted = apply_retention(store, RetentionSettings(probes_days=90), now=NOW)
        assert deleted["probe_results"] == 1
        assert store.query("SELECT count(*) AS n FROM probe_results").to_pylist() == [{"n": 1}]


def test_the_maintenance_clock_applies_retention_by_itself(tmp_path):
    old = NOW - timedelta(days=20)
    with Engine(tmp_path / "m.duckdb", quiet_settings(), admin_channel=False) as engine:
        engine.ingest_metrics(samples([(old, "gone1", "load1", 1.0), (NOW, "web1", "up", 1.0)]))
        clock = MaintenanceClock(engine, 0.05).start()
        try:
            assert wait_for(lambda: clock.status()["runs"] >= 1)
        finally:
            clock.stop()
        status = clock.status()
        assert status["errors"] == 0, status["last_error"]
        assert status["last"]["deleted"]["metrics"] == 1
        assert engine.query("SELECT host FROM metrics").to_pylist() == [{"host": "web1"}]
