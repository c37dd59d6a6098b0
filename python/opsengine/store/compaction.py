"""Compaction: small history segments of one table and day merged into larger ones.

Streaming sources (file tail, syslog, HTTP ingest) commit a block every second or so, each
its own segment. ``compact`` merges the small segments of a ``(table, day)`` partition, a
group at a time, into one time-sorted file: the group is read, sorted and written like any
segment, then one transaction catalogs the new file and uncatalogs the ones it replaces
(only if they are all still catalogued: retention may have dropped them meanwhile), and
the views are rebuilt. The replaced files are unlinked after the grace period. Queries and
ingest carry on throughout; a query sees the old files or the new one, never both.

Memory is bounded by ``memory_budget``: a group's Parquet files are estimated at their
uncompressed size (from the footers) and a group never exceeds the budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

import pyarrow as pa
import pyarrow.parquet as pq

from opsengine.store.db import Store
from opsengine.store.segments import Segment

log = logging.getLogger(__name__)

#: Segments smaller than this are merged.
SMALL_BYTES = 16 << 20
#: A merged file stops growing at about this size on disk.
TARGET_BYTES = 128 << 20
#: Uncompressed bytes held in memory by one merge.
MEMORY_BUDGET = 256 << 20


@dataclass
class CompactionReport:
    merged_files: int = 0
    written_files: int = 0
    rows: int = 0
    skipped_groups: int = 0  # a file of the group left the catalog while merging
    partitions: list[str] = field(default_factory=list)


def _uncompressed_bytes(path) -> int:
    meta = pq.ParquetFile(path).metadata
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def compact(
    store: Store,
    *,
    small_bytes: int = SMALL_BYTES,
    target_bytes: int = TARGET_BYTES,
    memory_budget: int = MEMORY_BUDGET,
) -> CompactionReport:
    """Merge the small segments of every partition; returns what was done."""
    history = store.history
    report = CompactionReport()
    cur = store.cursor()
    try:
        candidates = cur.execute(
            "SELECT table_name, day, path, rows, bytes FROM history_segments WHERE bytes < ? "
            "ORDER BY table_name, day, path",
            [small_bytes],
        ).fetchall()
    finally:
        cur.close()
    partitions: dict[tuple[str, object], list[tuple[str, int, int]]] = {}
    for table, day, path, rows, size in candidates:
        partitions.setdefault((table, day), []).append((path, rows, size))
    for (table, day), files in partitions.items():
        group: list[str] = []
        group_bytes = group_memory = 0
        for path, _rows, size in files:
            try:
                memory = _uncompressed_bytes(history.root / path)
            except OSError:
                continue  # retired meanwhile
            if group and (
                group_bytes + size > target_bytes or group_memory + memory > memory_budget
            ):
                _merge(store, table, day, group, report)
                group, group_bytes, group_memory = [], 0, 0
            group.append(path)
            group_bytes += size
            group_memory += memory
        _merge(store, table, day, group, report)
    history.remove_retired()
    return report


def _merge(store: Store, table: str, day, paths: list[str], report: CompactionReport) -> None:
    if len(paths) < 2:
        return
    history = store.history
    try:
        rows = pa.concat_tables([pq.read_table(history.root / p) for p in paths])
    except OSError:  # a file retired between listing and reading
        report.skipped_groups += 1
        return
    stored_at = datetime.combine(day, time(12), tzinfo=UTC)  # the same day partition
    written: list[Segment] = history.write(table, rows, stored_at)
    try:
        with store.transaction() as cur:
            marks = ", ".join("?" for _ in paths)
            still = cur.execute(
                f"SELECT count(*) FROM history_segments WHERE path IN ({marks})", paths
            ).fetchall()[0][0]
            if still != len(paths):
                raise _GroupChanged
            history.commit(cur, written, retire=paths)
    except _GroupChanged:
        history.discard(written)
        report.skipped_groups += 1
        return
    except BaseException:
        history.discard(written)
        raise
    history.retire_later(paths)
    report.merged_files += len(paths)
    report.written_files += len(written)
    report.rows += rows.num_rows
    report.partitions.append(f"{table}/day={day}")
    log.info("compacted %d %s segments of %s into %d", len(paths), table, day, len(written))


class _GroupChanged(Exception):
    """A segment of the group left the catalog (retention) while it was merged."""
