"""Appending metric samples: series once, samples as (ts, series id, value).

A sample's identity (host, name, label set) is reduced to a stable 64-bit series id in
the core (``_core.series_ids``, FNV-1a over a canonical encoding with labels sorted), so
the hot path appends three fixed-width columns and never converts a label map; a series'
labels are written once, to ``metric_series``, the first time it is seen. The ``metrics``
view joins the two back into (ts, host, name, labels, value) for queries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

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


class MetricSeriesCatalogue:
    """The ids of the series already in ``metric_series`` (loaded once, then kept)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        ids = cur.sql("SELECT id FROM metric_series").to_arrow_table().column("id")
        self._known = set(ids.to_pylist())
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def append(self, cur: duckdb.DuckDBPyConnection, samples: pa.Table) -> list[int]:
        """Append ``samples`` in the caller's transaction; returns the ids of new series.

        Pass the result to :meth:`remember` once the transaction committed (not before: a
        rolled-back series must be written again next time).
        """
        # Callers usually pass conformed samples (the pipeline does); check, don't redo.
        table = samples if samples.schema.equals(METRICS_SCHEMA) else conform(samples)
        n = table.num_rows
        if n == 0:
            return []
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
        cur.register(
            "new_samples",
            pa.table({"ts": table.column("ts"), "series_id": ids, "value": table.column("value")}),
        )
        try:
            cur.execute(
                "INSERT INTO metric_samples (ts, series_id, value) "
                "SELECT ts, series_id, value FROM new_samples"
            )
        finally:
            cur.unregister("new_samples")
        return fresh

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
) -> int:
    """Append samples in one transaction of their own; returns the number of samples.

    ``in_transaction(cursor)`` runs in that transaction after the samples are written.
    """
    # Commit and remember as one step under the write lock: retention, which deletes series
    # and makes the catalogue forget them under that lock, cannot come between.
    with store.write_lock:
        with store.transaction() as cur:
            fresh = catalogue.append(cur, samples)
            if in_transaction is not None:
                in_transaction(cur)
        catalogue.remember(fresh)
    return samples.num_rows


def move_samples(cur: duckdb.DuckDBPyConnection, samples: pa.Table) -> None:
    """Store ``samples`` with a catalogue of their own (for the migration of old files)."""
    catalogue = MetricSeriesCatalogue(cur)
    for batch in samples.to_batches(max_chunksize=1 << 20):
        catalogue.remember(catalogue.append(cur, pa.Table.from_batches([batch])))
