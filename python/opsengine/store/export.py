"""Exporting history as hive-partitioned Parquet: ``DIR/<table>/date=YYYY-MM-DD/*.parquet``.

DuckDB, Spark and Trino read the result directly, e.g.
``read_parquet('DIR/logs/*/*.parquet', hive_partitioning = true)``.

Re-exporting into the same DIR replaces whole date partitions: each run writes
with ``COPY … (FORMAT parquet, PARTITION_BY (date))`` into a staging folder
inside DIR (``DIR/.export-*``, ignored by readers' ``DIR/<table>/*/*.parquet``
globs), then swaps every written ``date=…`` folder into place by rename. Dates the
run did not write are left alone, and no partition ever mixes files of two runs.
``since`` is rounded down to the start of its UTC day so the first partition is
whole. During the swap a reader may briefly miss one date; run one export per DIR
at a time.

A row's date is the UTC day of its time: ``ts`` (for logs without a header time,
``ingested_at``; for events without one, their log line's ``ingested_at``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from opsengine.store.db import StoreError

ROW_TIME = {
    "logs": "coalesce(ts, ingested_at)",
    "events": "coalesce(ts, (SELECT min(l.ingested_at) FROM logs AS l WHERE l.id = log_id))",
    "metrics": "ts",
    "metrics_1m": "ts",
}
DEFAULT_EXPORT_TABLES = ("logs", "events", "metrics")
NO_DATE_PARTITION = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class TableExport:
    """What one table's export wrote: its row count and the date partitions replaced."""

    table: str
    rows: int
    dates: tuple[str, ...]
    folder: Path


def export_history(
    conn: duckdb.DuckDBPyConnection,
    out_dir: str | Path,
    tables: tuple[str, ...] | list[str] = DEFAULT_EXPORT_TABLES,
    since: date | None = None,
) -> list[TableExport]:
    """Write each table's rows (from the UTC day of ``since``) as date-partitioned Parquet."""
    unknown = [t for t in tables if t not in ROW_TIME]
    if unknown:
        raise ValueError(f"cannot export {', '.join(unknown)} (exportable: {', '.join(ROW_TIME)})")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    except OSError as e:
        raise StoreError(f"{out}: cannot create the export folder: {e.strerror or e}") from None
    try:
        results = []
        for table in tables:
            rows = _copy_to_staging(conn, table, staging / table, since)
            dates = _swap_partitions_in(
                staging / table, out / table, staging / f".{table}-replaced"
            )
            results.append(TableExport(table, rows, dates, out / table))
        return results
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_to_staging(
    conn: duckdb.DuckDBPyConnection, table: str, target: Path, since: date | None
) -> int:
    row_time = ROW_TIME[table]
    where = f"WHERE {row_time} >= $since" if since is not None else ""
    # COPY takes its file name only as a literal; the path is quoted, the table comes from ROW_TIME.
    sql = (
        f"COPY (SELECT *, CAST({row_time} AT TIME ZONE 'UTC' AS DATE) AS date "
        f"FROM {table} {where}) TO {_sql_string(str(target))} "
        "(FORMAT parquet, PARTITION_BY (date))"
    )
    params = {"since": datetime(since.year, since.month, since.day, tzinfo=UTC)} if since else None
    try:
        rows = conn.execute(sql, params).fetchall()
    except duckdb.Error as e:
        raise StoreError(f"export of {table} failed: {e}") from None
    return int(rows[0][0]) if rows else 0


def _swap_partitions_in(staged: Path, final: Path, replaced: Path) -> tuple[str, ...]:
    if not staged.is_dir():
        return ()
    final.mkdir(parents=True, exist_ok=True)
    replaced.mkdir(exist_ok=True)
    dates = []
    for partition in sorted(staged.iterdir()):
        destination = final / partition.name
        if destination.exists():
            os.rename(destination, replaced / partition.name)
        os.rename(partition, destination)
        dates.append(partition.name.partition("=")[2])
    return tuple(dates)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
