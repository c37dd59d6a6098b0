"""Maintenance keeps the file bounded beyond the time-stamped tables: series left without
samples go (and come back when they report again, even when retention runs between a
write's commit and the catalogue's update), probe results age out, and ``opsengine run``'s
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


def test_retention_between_a_commit_and_the_catalogue_update_loses_no_series(tmp_path):
    """The maintenance clock's thread tries to run while a write has committed a new series
    but not yet recorded it in the catalogue: it must wait, or the series row it deletes
    would stay "known" and every later sample of it would be invisible in ``metrics``."""
    import threading

    with Engine(tmp_path / "m.duckdb", quiet_settings(), admin_channel=False) as engine:
        catalogue = engine.metrics.series
        original = catalogue.remember
        reports = []
        maintenance = threading.Thread(target=lambda: reports.append(engine.maintenance(now=NOW)))

        def remember(ids):
            if ids and not maintenance.is_alive() and not reports:
                maintenance.start()
                maintenance.join(0.5)  # give it every chance to run in the gap
            original(ids)

        catalogue.remember = remember
        engine.ingest_metrics(samples([(NOW - timedelta(days=20), "backfill", "load1", 1.0)]))
        maintenance.join(60)
        assert reports and reports[0].deleted["metric_series"] == 1
        engine.ingest_metrics(samples([(NOW, "backfill", "load1", 2.0)]))
        rows = engine.query("SELECT host, value FROM metrics").to_pylist()
        assert rows == [{"host": "backfill", "value": 2.0}]
