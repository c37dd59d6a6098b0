"""Appending metric samples: series once, samples as (ts, series id, value).

A sample's identity (host, name, label set) is reduced to a stable 64-bit series id in
the core (``_core.series_ids``, FNV-1a over a canonical encoding with labels sorted), so
the hot path appends three fixed-width columns and never converts a label map; a series'
labels are written once, to ``metric_series``, the first time it is seen. The ``metrics``
view joins the two back into (ts, host, name, labels, value) for queries.

A series has at most one sample per timestamp, as in Prometheus: a resent sample (a client
retrying) is not stored again, and a *different* value at a timestamp already stored is
refused — the first write wins, which is also the value the metric rules saw — and counted
as a conflict (reported by the ingest endpoints as rejected).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from opsengine import _core
from opsengine.metrics.formats import METRICS_SCHEMA, conform

METRIC_SERIES_DDL = """
CREATE TABLE metric_series (
    id UBIGINT PRIMARY KEY,        -- _core.series_ids(host, name, labels)
    host VARCHAR,
    name VARCHAR NOT NULL,
    labels MAP(VARCHAR, VARCHAR),
    first_seen TIMESTAMPTZ         -- event time of its first stored sample
);
CREATE TABLE metric_samples (
    ts TIMESTAMPTZ NOT NULL,
    series_id UBIGINT NOT NULL,    -- metric_series.id
    value DOUBLE
);
"""

#: The samples as queries see them; writers go through MetricSeriesCatalogue.append.
METRICS_VIEW_DDL = """
CREATE VIEW metrics AS
SELECT s.ts, m.host, m.name, m.labels, s.value, s.series_id
FROM metric_samples s JOIN metric_series m ON m.id = s.series_id
"""


@dataclass
class Appended:
    """What one append stored: new series ids, samples written, samples refused as conflicts
    (a different value at a stored timestamp); the rest were resends of stored samples."""

    fresh: list[int] = field(default_factory=list)
    stored: int = 0
    conflicts: int = 0


class MetricSeriesCatalogue:
    """The ids of the series already in ``metric_series`` (loaded once, then kept)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        ids = cur.sql("SELECT id FROM metric_series").to_arrow_table().column("id")
        self._known = set(ids.to_pylist())
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def append(self, cur: duckdb.DuckDBPyConnection, samples: pa.Table) -> Appended:
        """Append ``samples`` in the caller's transaction, one per series and timestamp.

        Pass ``.fresh`` (the ids of new series) to :meth:`remember` once the transaction
        committed (not before: a rolled-back series must be written again next time).
        """
        # Callers usually pass conformed samples (the pipeline does); check, don't redo.
        table = samples if samples.schema.equals(METRICS_SCHEMA) else conform(samples)
        n = table.num_rows
        if n == 0:
            return Appended()
        ids = _core.series_ids(
            table.column("host").combine_chunks(),
            table.column("name").combine_chunks(),
            table.column("labels").combine_chunks(),
        )
        distinct = pc.unique(ids)
        with self._lock:
            known = self._known
            fresh = [i for i in distinct.to_pylist() if i not in known]
        if fresh:
            # The first row of each new series carries its host, name and labels.
            rows = pc.index_in(pa.array(fresh, pa.uint64()), value_set=ids)
            series = pa.table(
                {
                    "id": ids.take(rows),
                    "host": table.column("host").take(rows),
                    "name": table.column("name").take(rows),
                    "labels": table.column("labels").take(rows),
                    "first_seen": table.column("ts").take(rows),
                }
            )
            cur.register("new_series", series)
            try:
                # The anti-join makes a stale cache harmless (another writer cannot exist).
                cur.execute(
                    "INSERT INTO metric_series (id, host, name, labels, first_seen) "
                    "SELECT id, host, name, labels, first_seen FROM new_series "
                    "WHERE id NOT IN (SELECT id FROM metric_series)"
                )
            finally:
                cur.unregister("new_series")
        ts = table.column("ts")
        cur.register(
            "new_samples",
            pa.table(
                {
                    "ts": ts,
                    "series_id": ids,
                    "value": table.column("value"),
                    "ord": pa.array(range(n), pa.int64()),
                }
            ),
        )
        bounds = pc.min_max(ts)
        span = [bounds["min"].as_py(), bounds["max"].as_py()]
        try:
            # The time bounds let DuckDB skip the row groups of other times (zone maps).
            stored = cur.execute(
                "INSERT INTO metric_samples (ts, series_id, value) "
                "SELECT ts, series_id, value FROM ("
                "  SELECT *, row_number() OVER (PARTITION BY series_id, ts ORDER BY ord) AS k"
                "  FROM new_samples) n "
                "WHERE k = 1 AND NOT EXISTS (SELECT 1 FROM metric_samples s "
                "  WHERE s.ts BETWEEN ? AND ? AND s.series_id = n.series_id AND s.ts = n.ts)",
                span,
            ).fetchall()[0][0]
            conflicts = 0
            if stored < n:
                conflicts = cur.execute(
                    "SELECT count(*) FROM new_samples n WHERE EXISTS (SELECT 1 "
                    "FROM metric_samples s WHERE s.ts BETWEEN ? AND ? "
                    "AND s.series_id = n.series_id AND s.ts = n.ts "
                    "AND s.value IS DISTINCT FROM n.value)",
                    span,
                ).fetchall()[0][0]
        finally:
            cur.unregister("new_samples")
        return Appended(fresh, stored, conflicts)

    def remember(self, ids: list[int]) -> None:
        """Mark series as stored (after their transaction committed)."""
        with self._lock:
            self._known.update(ids)

    def forget(self, ids: Iterable[int]) -> None:
        """Mark series as deleted (retention removed them, under the store's write lock):
        their next sample writes them again."""
        with self._lock:
            self._known.difference_update(ids)


def append_metrics(
    store,
    catalogue: MetricSeriesCatalogue,
    samples: pa.Table,
    *,
    in_transaction: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Appended:
    """Append samples in one transaction of their own; returns what was stored.

    ``in_transaction(cursor)`` runs in that transaction after the samples are written.
    """
    # Commit and remember as one step under the write lock: retention, which deletes series
    # and makes the catalogue forget them under that lock, cannot come between.
    with store.write_lock:
        with store.transaction() as cur:
            appended = catalogue.append(cur, samples)
            if in_transaction is not None:
                in_transaction(cur)
        catalogue.remember(appended.fresh)
    return appended


def move_samples(cur: duckdb.DuckDBPyConnection, samples: pa.Table) -> None:
    """Store ``samples`` with a catalogue of their own (for the migration of old files)."""
    catalogue = MetricSeriesCatalogue(cur)
    for batch in samples.to_batches(max_chunksize=1 << 20):
        catalogue.remember(catalogue.append(cur, pa.Table.from_batches([batch])).fresh)
