"""The catalog is the truth: start-up removes files it does not name, reports the ones it
names that are missing or truncated, and retention drops whole expired days."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from opsengine import Engine
from opsengine.config import RetentionSettings, Settings
from opsengine.store import Store
from opsengine.store.maintenance import apply_retention

from tests.support.history_rows import t
from tests.support.segment_files import numbered_log, segment_files

LINES = 6_000


@pytest.fixture
def ingested(tmp_path):
    """A store holding LINES lines over two UTC days, in several segments."""
    log = numbered_log(tmp_path / "app.log", LINES, step_s=20)
    settings = Settings()
    settings.ingest.batch_bytes = 64 * 1024
    db = tmp_path / "ops.duckdb"
    with Engine(db, settings, admin_channel=False) as engine:
        engine.ingest_logs(log)
    return db


def _newest_logs_segment(store: Store):
    return store.query(
        "SELECT path, rows FROM history_segments WHERE table_name = 'logs' "
        "ORDER BY created_at DESC, path DESC LIMIT 1"
    ).to_pylist()[0]


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_damaged_newest_segment_is_reported_and_dropped_from_the_catalog(
    ingested, damage, caplog
):
    db = ingested
    with Store(db) as store:
        newest = _newest_logs_segment(store)
    victim = store.history.root / newest["path"]
    if damage == "deleted":
        victim.unlink()
    else:
        with victim.open("r+b") as f:
            f.truncate(victim.stat().st_size // 2)

    with caplog.at_level(logging.ERROR), Store(db) as store:
        report = store.history.last_reconcile
        lost = report.missing if damage == "deleted" else report.truncated
        assert [s.path for s in lost] == [newest["path"]]
        assert f"history segment {'missing' if damage == 'deleted' else 'truncated'}" in caplog.text
        assert f"{newest['rows']} logs rows" in caplog.text and str(victim) in caplog.text
        # The catalog and the files agree again, and every other line still reads.
        assert store.query("SELECT count(*) AS n FROM logs").column("n")[0].as_py() == (
            LINES - newest["rows"]
        )
        paths = {r["path"] for r in store.query("SELECT path FROM history_segments").to_pylist()}
        on_disk = {p.relative_to(store.history.root).as_posix() for p in segment_files(db)}
        assert paths == on_disk and newest["path"] not in paths
    with Store(db) as store:  # reported once: the next start finds nothing wrong
        assert not store.history.last_reconcile.lost


def test_a_segment_written_but_never_committed_is_removed_at_start_up(ingested):
    db = ingested
    with Store(db) as store:
        before = store.query("SELECT count(*) AS n FROM logs").column("n")[0].as_py()
        rows = pa.table({"id": [10**9], "ts": [t("2024-05-10 12:00:00")], "raw": ["orphan"]})
        # What a crash between the rename and the commit leaves behind.
        orphan = store.history.write("logs", rows, datetime.now(UTC))
    with Store(db) as store:
        assert store.history.last_reconcile.removed_uncommitted == [orphan[0].path]
        assert not (store.history.root / orphan[0].path).exists()
        assert store.query("SELECT count(*) AS n FROM logs").column("n")[0].as_py() == before


def test_retention_removes_exactly_the_expired_days(tmp_path):
    db = tmp_path / "ops.duckdb"
    now = t("2024-05-20 09:30:00")
    with Store(db) as store:
        day_rows = {}
        for back in range(6):  # a few lines on each day from 05-15 to 05-20 (today)
            day = now - timedelta(days=back)
            n = 3 + back
            rows = pa.table(
                {
                    "id": pa.array(range(back * 100, back * 100 + n), pa.int64()),
                    "ts": pa.array([day] * n, pa.timestamp("us", tz="UTC")),
                    "ingested_at": pa.array([day] * n, pa.timestamp("us", tz="UTC")),
                    "raw": [f"line {i}" for i in range(n)],
                }
            )
            store.append_history({"logs": rows}, stored_at=day)
            day_rows[day.date().isoformat()] = n

        deleted = apply_retention(store, RetentionSettings(logs_days=3), now)
        # Cut-off 05-17 09:30: 05-16 and older end before it; 05-17 still has younger rows.
        expired = ["2024-05-15", "2024-05-16"]
        assert deleted["logs"] == sum(day_rows[d] for d in expired)
        days = store.query("SELECT DISTINCT CAST(ts AS DATE) AS d FROM logs ORDER BY d")
        assert [str(d) for d in days.column("d").to_pylist()] == [
            "2024-05-17", "2024-05-18", "2024-05-19", "2024-05-20"
        ]  # fmt: skip
        # Files go after the grace period for queries already planned over them.
        assert any(f"day={d}" in str(p) for p in segment_files(db) for d in expired)
        store.history.remove_retired(all_now=True)
        assert not any(f"day={d}" in str(p) for p in segment_files(db) for d in expired)
        assert not (store.history.root / "logs" / "day=2024-05-15").exists()
