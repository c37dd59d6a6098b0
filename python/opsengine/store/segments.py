"""History segments: ``logs`` and ``events`` as immutable zstd Parquet files under the data
directory, made visible by a catalog in the DuckDB file.

Layout: ``<data dir>/history/<table>/day=YYYY-MM-DD/<name>.parquet``; the day is the UTC
day the rows were stored (``logs.ingested_at``), so one batch is one file per table
however many days its event times span (a replayed archive can span hundreds), and
retention drops whole stored days. Rows in a file are sorted by event time, so row groups
carry narrow time ranges, and the catalog keeps each file's event-time range.

A segment becomes visible in three steps:

1. ``write`` writes the file under a hidden temporary name (pyarrow, GIL released),
   fsyncs it and renames it to its final name;
2. the caller commits one DuckDB transaction holding the catalog row (``history_segments``),
   the checkpoints the rows cover and the views rebuilt over the catalogued files;
3. on a failed commit the files are removed again.

A crash between 1 and 2 leaves a file the catalog does not name: ``reconcile`` (run when a
writable store opens) removes it, so the data and its checkpoint are either both there or
both absent and the source re-sends it. Start-up trusts the catalog over the directory,
never the other way round: a catalogued file that is missing or shorter than recorded is
reported and dropped from the catalog.

Files a compaction or retention retired are unlinked only after ``RETIRE_GRACE_S``, so a
query that planned over them a moment ago still finds them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")

#: The history tables' columns, in the order users see them.
SCHEMAS: dict[str, pa.Schema] = {
    "logs": pa.schema(
        [
            ("id", pa.int64()),
            ("ts", _TS),
            ("ingested_at", _TS),
            ("host", pa.string()),
            ("source", pa.string()),
            ("app", pa.string()),
            ("pid", pa.string()),
            ("level", pa.string()),
            ("message", pa.string()),
            ("raw", pa.string()),
            ("template_id", pa.uint32()),
        ]
    ),
    "events": pa.schema(
        [
            ("ts", _TS),
            ("host", pa.string()),
            ("source", pa.string()),
            ("rule", pa.string()),
            ("severity", pa.string()),
            ("category", pa.string()),
            ("fields", pa.map_(pa.string(), pa.string())),
            ("log_id", pa.int64()),
        ]
    ),
}

#: DuckDB types of the same columns, for the empty view of a table without segments.
_SQL_TYPES = {
    "logs": {
        "id": "BIGINT",
        "ts": "TIMESTAMPTZ",
        "ingested_at": "TIMESTAMPTZ",
        "host": "VARCHAR",
        "source": "VARCHAR",
        "app": "VARCHAR",
        "pid": "VARCHAR",
        "level": "VARCHAR",
        "message": "VARCHAR",
        "raw": "VARCHAR",
        "template_id": "UINTEGER",
    },
    "events": {
        "ts": "TIMESTAMPTZ",
        "host": "VARCHAR",
        "source": "VARCHAR",
        "rule": "VARCHAR",
        "severity": "VARCHAR",
        "category": "VARCHAR",
        "fields": "MAP(VARCHAR, VARCHAR)",
        "log_id": "BIGINT",
    },
}

_DICTIONARY_COLUMNS = {
    "logs": ["host", "source", "app", "pid", "level", "template_id"],
    "events": ["host", "source", "rule", "severity", "category", "fields"],
}

#: Rows per Parquet row group: small enough that time ranges prune, big enough to compress.
ROW_GROUP_ROWS = 128 * 1024
#: Seconds a retired file (compacted or expired) stays on disk for queries already planned.
RETIRE_GRACE_S = 60.0

CATALOG_DDL = """
CREATE TABLE history_segments (
    path VARCHAR PRIMARY KEY,       -- relative to <data dir>/history: <table>/day=YYYY-MM-DD/<name>.parquet
    table_name VARCHAR NOT NULL,    -- logs | events
    day DATE NOT NULL,              -- UTC day of every row's time
    min_ts TIMESTAMPTZ,             -- time range of the rows (NULL when none has a time)
    max_ts TIMESTAMPTZ,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,          -- file size; a shorter file is reported as truncated
    created_at TIMESTAMPTZ NOT NULL
);
"""


class SegmentWriteError(RuntimeError):
    """A segment could not be written; nothing of its batch was committed."""


@dataclass(frozen=True)
class Segment:
    """One written file and its catalog row."""

    path: str  # relative to the history root
    table: str
    day: date
    min_ts: datetime | None
    max_ts: datetime | None
    rows: int
    bytes: int


@dataclass
class ReconcileReport:
    """What start-up found: files removed for not being catalogued, and catalogued ones lost."""

    removed_uncommitted: list[str] = field(default_factory=list)
    missing: list[Segment] = field(default_factory=list)
    truncated: list[Segment] = field(default_factory=list)

    @property
    def lost(self) -> list[Segment]:
        return self.missing + self.truncated


def row_days(when: pa.Array) -> pa.Array:
    """The UTC day (date32) of each time."""
    return pc.cast(pc.floor_temporal(when, unit="day"), pa.timestamp("us")).cast(pa.date32())


class SegmentHistory:
    """The segment files of one store, their catalog and the ``logs``/``events`` views."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.last_reconcile = ReconcileReport()
        # Serialises the history writers: ids are reserved, files written and the catalog
        # committed in order, so a reader polling by id never skips a batch.
        self.lock = threading.RLock()
        self._retired: list[tuple[float, Path]] = []
        self._writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="segment-writer")
        self._retired_lock = threading.Lock()

    # -- writing ---------------------------------------------------------
    def ensure_writable(self) -> None:
        try:
            for table in SCHEMAS:
                (self.root / table).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SegmentWriteError(
                f"{self.root}: cannot create the history folder: {e.strerror or e}"
            ) from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise SegmentWriteError(f"{self.root}: the history folder is not writable")

    def write(self, table: str, rows: pa.Table, stored_at: datetime | pa.Array) -> list[Segment]:
        """Write ``rows`` of ``table`` into the partition of the UTC day they were stored
        (``stored_at``: one time for the batch, or one per row when moving older rows);
        returns the files, not yet visible."""
        if rows.num_rows == 0:
            return []
        rows = conform(table, rows)
        written: list[Segment] = []
        try:
            if isinstance(stored_at, datetime):
                day = stored_at.astimezone(UTC).date()
                written.append(self._write_day(table, day, rows))
            else:
                days = row_days(stored_at.cast(_TS))
                unique_days = pc.unique(days)
                for day in sorted(d.as_py() for d in unique_days):
                    mask = pc.equal(days, pa.scalar(day, pa.date32()))
                    written.append(self._write_day(table, day, rows.filter(mask)))
        except BaseException:
            self.discard(written)
            raise
        return written

    def write_tables(
        self, tables: dict[str, pa.Table], stored_at: datetime | pa.Array
    ) -> list[Segment]:
        """``write`` for several tables at once, each on its own thread (the Parquet writer
        releases the GIL); all or none: on a failure the others' files are removed."""
        items = [(t, r) for t, r in tables.items() if r.num_rows]
        if len(items) <= 1:
            return [s for t, r in items for s in self.write(t, r, stored_at)]
        futures = [self._writers.submit(self.write, t, r, stored_at) for t, r in items]
        written, failure = [], None
        for f in futures:
            try:
                written += f.result()
            except BaseException as e:  # re-raised below, after the clean-up
                failure = failure or e
        if failure is not None:
            self.discard(written)
            raise failure
        return written

    def _write_day(self, table: str, day: date, rows: pa.Table) -> Segment:
        sort_keys = [("ts", "ascending"), ("id" if table == "logs" else "log_id", "ascending")]
        order = pc.sort_indices(rows, sort_keys=sort_keys)
        if not _is_identity(order):  # a batch read from one log is mostly in time order
            rows = rows.take(order)
        folder = self.root / table / f"day={day.isoformat()}"
        name = f"{time.time_ns():x}-{uuid.uuid4().hex[:8]}.parquet"
        final = folder / name
        temp = folder / f".tmp-{name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                rows,
                temp,
                compression="zstd",
                # Dictionaries only where values repeat: for raw lines they only cost time.
                use_dictionary=_DICTIONARY_COLUMNS[table],
                row_group_size=ROW_GROUP_ROWS,
                sorting_columns=[pq.SortingColumn(0 if table == "events" else 1)],
                write_statistics=True,
            )
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, final)
            _fsync_dir(folder)
            size = final.stat().st_size
        except OSError as e:
            with contextlib.suppress(OSError):
                temp.unlink()
            with contextlib.suppress(OSError):
                final.unlink()
            raise SegmentWriteError(
                f"{folder}: cannot write a {table} segment: {e.strerror or e}"
            ) from None
        ts = rows.column("ts")
        low, high = pc.min_max(ts).values()
        return Segment(
            path=f"{table}/day={day.isoformat()}/{name}",
            table=table,
            day=day,
            min_ts=low.as_py(),
            max_ts=high.as_py(),
            rows=rows.num_rows,
            bytes=size,
        )

    def discard(self, segments: Iterable[Segment]) -> None:
        """Remove files whose commit failed (they were never visible)."""
        for s in segments:
            with contextlib.suppress(OSError):
                (self.root / s.path).unlink()

    # -- the catalog (inside the caller's transaction) ---------------------
    def commit(self, cur, segments: Sequence[Segment], *, retire: Sequence[str] = ()) -> None:
        """Catalog ``segments`` (and drop ``retire``d paths) in the caller's transaction, and
        rebuild the views of the tables touched."""
        now = datetime.now(UTC)
        if segments:
            cur.executemany(
                "INSERT INTO history_segments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [s.path, s.table, s.day, s.min_ts, s.max_ts, s.rows, s.bytes, now]
                    for s in segments
                ],
            )
        if retire:
            cur.executemany("DELETE FROM history_segments WHERE path = ?", [[p] for p in retire])
        tables = {s.table for s in segments} | {p.split("/", 1)[0] for p in retire}
        for table in sorted(tables):
            self.rebuild_view(cur, table)

    def rebuild_view(self, cur, table: str) -> None:
        paths = [
            str(self.root / p)
            for (p,) in cur.execute(
                "SELECT path FROM history_segments WHERE table_name = ? ORDER BY day, path",
                [table],
            ).fetchall()
        ]
        cur.execute(f"DROP VIEW IF EXISTS {table}")
        cur.execute(f"CREATE VIEW {table} AS {view_sql(table, paths)}")

    def expire_days(self, cur, table: str, cutoff: datetime) -> tuple[int, list[str]]:
        """Uncatalog the day partitions of ``table`` stored wholly before ``cutoff`` (the
        day ends at or before it), in the caller's transaction; returns the rows and the
        paths dropped. The caller retires the files (``retire_later``) after commit."""
        last_expired = (cutoff - timedelta(days=1)).date()
        found = cur.execute(
            "SELECT path, rows FROM history_segments WHERE table_name = ? AND day <= ?",
            [table, last_expired],
        ).fetchall()
        if found:
            self.commit(cur, [], retire=[p for p, _ in found])
        return sum(r for _, r in found), [p for p, _ in found]

    def retire_later(self, paths: Iterable[str]) -> None:
        """Unlink these (no longer catalogued) files once queries planned over them are done."""
        due = time.monotonic() + RETIRE_GRACE_S
        with self._retired_lock:
            self._retired.extend((due, self.root / p) for p in paths)

    def remove_retired(self, *, all_now: bool = False) -> int:
        now = time.monotonic()
        with self._retired_lock:
            due = [p for t, p in self._retired if all_now or t <= now]
            self._retired = [(t, p) for t, p in self._retired if not (all_now or t <= now)]
        for p in due:
            with contextlib.suppress(OSError):
                p.unlink()
            with contextlib.suppress(OSError):
                p.parent.rmdir()  # an emptied day partition goes too
        return len(due)

    # -- start-up ----------------------------------------------------------
    def reconcile(self, store) -> ReconcileReport:
        """Make the files match the catalog: remove uncatalogued files, report and uncatalog
        missing or truncated ones, rebuild the views."""
        report = ReconcileReport()
        self.ensure_writable()
        cur = store.cursor()
        try:
            rows = cur.execute(
                "SELECT path, table_name, day, min_ts, max_ts, rows, bytes FROM history_segments"
            ).fetchall()
        finally:
            cur.close()
        catalogued = {r[0]: Segment(*r) for r in rows}
        for table in SCHEMAS:
            for f in sorted((self.root / table).glob("day=*/*")):
                rel = f.relative_to(self.root).as_posix()
                if rel not in catalogued and f.is_file():
                    f.unlink()
                    report.removed_uncommitted.append(rel)
            for d in (self.root / table).glob("day=*"):
                with contextlib.suppress(OSError):
                    d.rmdir()  # empty partitions
        for rel, seg in catalogued.items():
            f = self.root / rel
            try:
                size = f.stat().st_size
            except FileNotFoundError:
                report.missing.append(seg)
                continue
            if size != seg.bytes:
                report.truncated.append(seg)
        with store.transaction() as cur:
            if report.lost:
                cur.executemany(
                    "DELETE FROM history_segments WHERE path = ?", [[s.path] for s in report.lost]
                )
            for table in SCHEMAS:
                self.rebuild_view(cur, table)
        for s in report.truncated:
            with contextlib.suppress(OSError):
                (self.root / s.path).unlink()
        for s in report.missing:
            log.error(
                "%s: history segment missing: %d %s rows of %s (%s .. %s) are lost; "
                "dropped from the catalog",
                self.root / s.path,
                s.rows,
                s.table,
                s.day,
                s.min_ts,
                s.max_ts,
            )
        for s in report.truncated:
            log.error(
                "%s: history segment truncated (%d bytes recorded): %d %s rows of %s "
                "(%s .. %s) are lost; removed and dropped from the catalog",
                self.root / s.path,
                s.bytes,
                s.rows,
                s.table,
                s.day,
                s.min_ts,
                s.max_ts,
            )
        if report.removed_uncommitted:
            log.info(
                "%s: removed %d uncommitted segment file(s) of an interrupted write",
                self.root,
                len(report.removed_uncommitted),
            )
        self.last_reconcile = report
        return report


def conform(table: str, rows: pa.Table) -> pa.Table:
    """``rows`` with exactly the table's columns and types (missing columns as nulls)."""
    schema = SCHEMAS[table]
    n = rows.num_rows
    cols = []
    for f in schema:
        if f.name in rows.column_names:
            col = rows.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def view_sql(table: str, paths: Sequence[str]) -> str:
    """The SELECT behind the ``logs``/``events`` view: the catalogued files, or no rows."""
    types = _SQL_TYPES[table]
    if not paths:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in types.items())
        return f"SELECT {cols} WHERE false"
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    cols = ", ".join(types)
    return f"SELECT {cols} FROM read_parquet([{files}], hive_partitioning = false)"


def _is_identity(order: pa.Array) -> bool:
    n = len(order)
    return n == 0 or bool(
        np.array_equal(
            order.to_numpy(zero_copy_only=False), np.arange(n, dtype=order.type.to_pandas_dtype())
        )
    )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
