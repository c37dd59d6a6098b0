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

from tests.support.sources_net import wait_for

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


def test_finished_incidents_age_out_with_their_timeline_and_leave_the_index(tmp_path):
    old, recent = NOW - timedelta(days=500), NOW - timedelta(days=10)
    path = tmp_path / "i.duckdb"
    with Engine(path, quiet_settings(), admin_channel=False) as engine:
        svc = engine.incidents
        index = svc.load_index()
        assert index.wait(60), index.error

        def finished(title: str, at: datetime, *, close: bool = True) -> int:
            incident_id = svc.create(title, actor="alice", at=at)
            svc.add_note(incident_id, "looked into it", actor="alice", at=at)
            svc.resolve(incident_id, actor="alice", at=at + timedelta(hours=1))
            if close:
                svc.close(incident_id, actor="alice", at=at + timedelta(hours=2))
            return incident_id

        kept = {
            finished("cert expiry", recent),
            finished("memory leak", old),  # a problem links it
            finished("paged, not yet delivered", old),  # a notification still pending
            finished("escalating", old),  # an escalation still active
            finished("reviewed yesterday", old),  # a late note
            svc.create("slow queries", actor="alice", at=old),  # still open
        }
        linked, pending, escalating, reviewed = sorted(kept)[1:5]
        engine.problems.create_problem(
            "leaking worker", actor="alice", incident_ids=[linked], at=old
        )
        svc.add_note(reviewed, "post-mortem done", actor="bob", at=recent)
        gone_closed = finished("disk full on db1", old)
        # Past the index's bulk threshold, and the highest ids are among the deleted ones.
        gone_many = [finished(f"api 5xx #{i}", old, close=i % 2 == 0) for i in range(70)]
        with engine.store.transaction() as cur:
            for key, incident_id, state in (
                ("k1", pending, "pending"),
                ("k2", gone_closed, "sent"),
            ):
                cur.execute(
                    "INSERT INTO notifications (key, incident_id, channel, reason, payload, "
                    "state, attempts, created_at) VALUES (?, ?, 'ops', 'resolved', '{}', ?, 0, ?)",
                    [key, incident_id, state, old],
                )
            # A sent notification goes with its incident, attempts included.
            cur.execute(
                "INSERT INTO notification_attempts VALUES ('k2', 1, ?, 'sent', NULL)", [old]
            )
            cur.execute(
                "INSERT INTO escalations VALUES (?, 'default', 0, 0, ?, 'active')",
                [escalating, NOW],
            )
        top_event = engine.query("SELECT max(id) AS m FROM incident_events").to_pylist()[0]["m"]

        report = engine.maintenance(now=NOW)

        assert report.deleted["incidents"] == 71
        left = {r["id"] for r in engine.query("SELECT id FROM incidents").to_pylist()}
        assert left == kept
        for table in ("incident_events", "notifications", "escalations"):
            ids = engine.query(f"SELECT DISTINCT incident_id AS i FROM {table}").to_pylist()
            assert {r["i"] for r in ids} <= left, table
        assert engine.query("SELECT key FROM notification_attempts").to_pylist() == []
        # The in-memory list (what the API serves) forgot them with the commit, the
        # per-state lists too.
        assert svc.lists_from_memory
        assert {i["id"] for i in svc.list(limit=1000)} == left
        closed = engine.query("SELECT id FROM incidents WHERE state = 'closed'").to_pylist()
        assert {i["id"] for i in svc.list(state="closed", limit=1000)} == {r["id"] for r in closed}
        assert len(closed) == 5
        # Nothing left to prune: a second pass deletes nothing.
        assert engine.maintenance(now=NOW).deleted["incidents"] == 0
    # After a restart, ids carry on past the deleted ones: webhooks and tickets elsewhere
    # know incidents by id.
    with Engine(path, quiet_settings(), admin_channel=False) as engine:
        new_id = engine.incidents.create("after restart", actor="alice", at=NOW)
        assert new_id > max(gone_many)
        events = engine.query(
            "SELECT min(id) AS m FROM incident_events WHERE incident_id = ?", [new_id]
        ).to_pylist()
        assert events[0]["m"] > top_event


def test_resolved_alerts_and_the_audit_log_age_out(tmp_path):
    with Store(tmp_path / "a.duckdb") as store:
        with store.transaction() as cur:
            for fp, state, days in (
                ("a", "resolved", 500),
                ("b", "resolved", 5),
                ("c", "firing", 500),
            ):
                since = NOW - timedelta(days=days)
                cur.execute(
                    "INSERT INTO alerts (fingerprint, rule, state, active_since, resolved_at, "
                    "source, updated_at) VALUES (?, 'r', ?, ?, ?, 'metric', ?)",
                    [fp, state, since, since if state == "resolved" else None, since],
                )
            for days in (400, 30):
                cur.execute(
                    "INSERT INTO audit_log (ts, actor, action, outcome) "
                    "VALUES (?, 'k1', 'POST /api/v1/silences', 'ok')",
                    [NOW - timedelta(days=days)],
                )
        deleted = apply_retention(store, RetentionSettings(), now=NOW)
        assert deleted["alerts"] == 1
        assert deleted["audit_log"] == 1
        left = store.query("SELECT fingerprint FROM alerts ORDER BY 1").to_pylist()
        assert left == [{"fingerprint": "b"}, {"fingerprint": "c"}], "a firing alert stays"
        # 0 days keeps everything.
        kept = apply_retention(store, RetentionSettings(alerts_days=0, audit_days=0), now=NOW)
        assert "alerts" not in kept and "audit_log" not in kept
