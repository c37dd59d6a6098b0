"""Metric samples are stored as series (labels once) and samples (ts, series id, value):
the `metrics` view gives them back as written, series ids do not depend on label order,
an older file's `metrics` rows move over on upgrade, and retention deletes samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from opsengine import _core
from opsengine.config import RetentionSettings
from opsengine.metrics.formats import MetricFormatError
from opsengine.store import Store
from opsengine.store.maintenance import apply_retention
from opsengine.store.metric_store import (
    MetricSeriesCatalogue,
    append_metrics,
)
from opsengine.store.schema import MIGRATIONS

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
LABELS = pa.map_(pa.string(), pa.string())


def samples(rows) -> pa.Table:
    ts, host, name, labels, value = zip(*rows, strict=True)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "host": list(host),
            "name": list(name),
            "labels": pa.array([list(lb.items()) for lb in labels], LABELS),
            "value": pa.array(value, pa.float64()),
        }
    )


def test_the_view_gives_back_what_was_written_with_each_series_stored_once(tmp_path):
    rows = [
        (T0 + timedelta(seconds=10 * i), f"web{i % 3}", "disk_used_percent",
         {"mount": "/", "device": "sda1"}, float(i))
        for i in range(300)
    ]  # fmt: skip
    with Store(tmp_path / "m.duckdb") as store:
        catalogue = MetricSeriesCatalogue(store.cursor())
        for k in range(0, 300, 100):
            append_metrics(store, catalogue, samples(rows[k : k + 100]))
        back = store.query(
            "SELECT ts, host, name, labels, value FROM metrics ORDER BY ts"
        ).to_pylist()
        assert [(r["ts"], r["host"], r["name"], dict(r["labels"]), r["value"]) for r in back] == [
            (ts, h, n, lb, v) for ts, h, n, lb, v in rows
        ]
        assert store.query("SELECT count(*) AS n FROM metric_series").to_pylist() == [{"n": 3}]
        # A new catalogue (a restart) knows the stored series and adds none.
        append_metrics(store, MetricSeriesCatalogue(store.cursor()), samples(rows[:3]))
        assert store.query("SELECT count(*) AS n FROM metric_series").to_pylist() == [{"n": 3}]


def test_series_ids_ignore_label_order_but_not_label_values():
    host = pa.array(["a", "a", "a", None])
    name = pa.array(["up", "up", "up", "up"])
    labels = pa.array(
        [[("job", "node"), ("instance", "x")], [("instance", "x"), ("job", "node")],
         [("instance", "y"), ("job", "node")], [("instance", "x"), ("job", "node")]],
        LABELS,
    )  # fmt: skip
    ids = _core.series_ids(host, name, labels).to_pylist()
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3]}) == 3


def test_a_rolled_back_series_is_written_again(tmp_path):
    rows = [(T0, "web1", "load1", {}, 1.0)]
    with Store(tmp_path / "m.duckdb") as store:
        catalogue = MetricSeriesCatalogue(store.cursor())
        with pytest.raises(RuntimeError), store.transaction() as cur:
            catalogue.append(cur, samples(rows))
            raise RuntimeError("the batch's other writes failed")
        append_metrics(store, catalogue, samples(rows))
        assert store.query("SELECT host, name, value FROM metrics").to_pylist() == [
            {"host": "web1", "name": "load1", "value": 1.0}
        ]


def test_samples_without_a_name_or_time_are_refused_naming_the_column(tmp_path):
    with Store(tmp_path / "m.duckdb") as store:
        catalogue = MetricSeriesCatalogue(store.cursor())
        no_name = pa.table({"ts": pa.array([T0]), "value": [1.0]})
        with pytest.raises(MetricFormatError, match="name"):
            append_metrics(store, catalogue, no_name)
        bad_ts = pa.table({"ts": pa.array([None], pa.timestamp("us", tz="UTC")),
                           "name": ["x"], "value": [1.0]})  # fmt: skip
        with pytest.raises(MetricFormatError, match="'ts'"):
            append_metrics(store, catalogue, bad_ts)
        assert store.query("SELECT count(*) AS n FROM metric_samples").to_pylist() == [{"n": 0}]


def test_retention_deletes_old_samples(tmp_path):
    rows = [(T0 - timedelta(days=d), "web1", "load1", {}, float(d)) for d in (1, 20)]
    with Store(tmp_path / "m.duckdb") as store:
        append_metrics(store, MetricSeriesCatalogue(store.cursor()), samples(rows))
        deleted = apply_retention(store, RetentionSettings(metrics_days=15), now=T0)
        assert deleted["metrics"] == 1
        assert store.query("SELECT value FROM metrics").to_pylist() == [{"value": 1.0}]


def test_an_older_file_keeps_its_metrics_through_the_upgrade(tmp_path):
    """A file made before migration 7 had a `metrics` table; its rows become series+samples."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for version, name, sql in MIGRATIONS:
        if version >= 7:
            break
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    con.execute(
        "INSERT INTO metrics VALUES (?, 'web1', 'up', MAP {'job': 'node'}, 1.0), "
        "(?, 'web1', 'up', MAP {'job': 'node'}, 0.0), (?, NULL, 'queue_depth', NULL, 7.0)",
        [T0, T0 + timedelta(minutes=1), T0],
    )
    con.close()
    with Store(path) as store:
        assert store.schema_version() >= 7
        back = store.query(
            "SELECT host, name, labels, value FROM metrics ORDER BY name, ts"
        ).to_pylist()
        assert [
            (r["host"], r["name"], r["labels"] and dict(r["labels"]), r["value"]) for r in back
        ] == [
            (None, "queue_depth", None, 7.0),
            ("web1", "up", {"job": "node"}, 1.0),
            ("web1", "up", {"job": "node"}, 0.0),
        ]
        # New samples of a moved series join it instead of starting another.
        append_metrics(
            store, MetricSeriesCatalogue(store.cursor()),
            samples([(T0 + timedelta(minutes=2), "web1", "up", {"job": "node"}, 1.0)]),
        )  # fmt: skip
        assert store.query(
            "SELECT count(*) AS n FROM metric_series WHERE name = 'up'"
        ).to_pylist() == [{"n": 1}]
