"""Migration 17: the ``logs`` and ``events`` tables of an older file move into segments.

Runs inside the migration's transaction: rows are read in id order a chunk at a time
(bounded memory), written as segments, catalogued, and the tables are dropped in favour of
the views. Should the process die half-way the transaction never commits, the tables are
untouched, and start-up removes the files it wrote (they are not in the catalog).
"""

from __future__ import annotations

import sys

from opsengine.store.segments import Segment

#: Rows moved per chunk (bounds the migration's memory).
CHUNK_ROWS = 500_000


def _is_table(cur, name: str) -> bool:
    return bool(
        cur.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ? AND table_type = 'BASE TABLE'",
            [name],
        ).fetchall()[0][0]
    )


class _Progress:
    def __init__(self, table: str, total: int) -> None:
        self.table, self.total, self.done = table, total, 0
        self.shown = total >= CHUNK_ROWS  # a bar only when the move takes a while

    def add(self, n: int) -> None:
        self.done += n
        if self.shown:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stderr.write(
                f"\rmoving {self.table} into segments [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done:,}/{self.total:,} rows"
            )
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def move_history_into_segments(cur, store) -> None:
    """Move every ``logs`` and ``events`` row into segments; the tables become views."""
    history = store.history
    written: list[Segment] = []
    try:
        if _is_table(cur, "logs"):
            written += _move(
                cur,
                history,
                "logs",
                "SELECT * FROM logs WHERE id >= ? AND id < ? ORDER BY id",
                "SELECT count(*), min(id), max(id) FROM logs",
                fallback="ingested_at",
            )
        if _is_table(cur, "events"):
            # An event is stored in its line's ingest day.
            written += _move(
                cur,
                history,
                "events",
                "SELECT e.*, coalesce(l.ingested_at, now()) AS _fallback FROM events e "
                "LEFT JOIN logs l ON l.id = e.log_id "
                "WHERE e.log_id >= ? AND e.log_id < ? ORDER BY e.log_id",
                "SELECT count(*), min(log_id), max(log_id) FROM events",
                fallback="_fallback",
            )
        for table in ("events", "logs"):
            if _is_table(cur, table):
                cur.execute(f"DROP TABLE {table}")
        history.commit(cur, written)
        for table in ("events", "logs"):
            history.rebuild_view(cur, table)
    except BaseException:
        history.discard(written)
        raise


def _move(cur, history, table: str, select: str, bounds: str, *, fallback: str) -> list[Segment]:
    total, low, high = cur.execute(bounds).fetchall()[0]
    if not total:
        return []
    progress = _Progress(table, total)
    written: list[Segment] = []
    # Chunks by id range: ids are dense in practice, so each holds about CHUNK_ROWS rows.
    step = max(1, CHUNK_ROWS)
    start = low
    while start <= high:
        rows = cur.sql(select, params=[start, start + step]).to_arrow_table()
        start += step
        if rows.num_rows == 0:
            continue
        when = rows.column(fallback)
        if fallback.startswith("_"):
            rows = rows.drop_columns([fallback])
        written += history.write(table, rows, when.combine_chunks())
        progress.add(rows.num_rows)
    return written
