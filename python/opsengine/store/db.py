"""The DuckDB file: opening it (with a clear error when another process holds it),
migrations, transactions, and the single writer through which all history is appended.

DuckDB allows one writing process per file. Inside the process there is one
connection; each thread takes its own cursor; history writes go through
``Store.append`` in whole Arrow batches, one transaction each, together with
the checkpoints that cover them.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from opsengine.store.schema import MIGRATIONS
from opsengine.store.segments import Segment, SegmentHistory, SegmentWriteError

DEFAULT_DB = "opsengine.duckdb"


def default_data_dir(db_path: str | Path) -> Path:
    """The data directory beside a database file: ``ops.duckdb`` → ``ops.data`` (history
    segments, the service desk's CSAT key and KB index)."""
    path = Path(db_path)
    return path.parent / f"{path.stem}.data"


class StoreError(RuntimeError):
    """A store fault that the user can act on; the message names the file."""


class StoreLockedError(StoreError):
    """Another process holds the database file for writing."""


def _is_lock_error(e: Exception) -> bool:
    text = str(e)
    return "Could not set lock" in text or "Conflicting lock" in text or "lock on file" in text


#: Nothing is downloaded or loaded at run time: the extensions the engine uses (json,
#: parquet, icu) are built in, and ``FROM 'https://…'`` must not fetch httpfs.
NO_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file; a lock held by another process becomes StoreLockedError."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"{path}: no such database file")
    try:
        return duckdb.connect(str(path), read_only=read_only, config=NO_DOWNLOADS)
    except duckdb.IOException as e:
        if _is_lock_error(e):
            holder = ""
            m = str(e)
            if "PID" in m:
                holder = " (" + m[m.index("PID") :].split(")")[0].strip() + ")"
            raise StoreLockedError(
                f"{path}: the database is locked by another process{holder}; "
                "stop it or use its admin channel (opsengine sql reaches a running engine)"
            ) from None
        raise StoreError(f"{path}: cannot open the database: {e}") from None
    except duckdb.Error as e:
        raise StoreError(f"{path}: cannot open the database: {e}") from None


def _quote(text: str) -> str:
    # SET takes no bound parameters; the value comes from settings, quoted as a literal.
    return text.replace("'", "''")


class Store:
    """One DuckDB file holding all of opsengine's history and state."""

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.data_dir = Path(data_dir) if data_dir else default_data_dir(self.path)
        # logs and events: Parquet segments under data_dir, catalogued in this file.
        self.history = SegmentHistory(self.data_dir / "history")
        self.conn = connect(self.path, read_only=read_only)
        if memory_limit:
            try:
                self.conn.execute(f"SET memory_limit = '{_quote(memory_limit)}'")
            except duckdb.Error as e:
                self.conn.close()
                raise StoreError(f"memory_limit {memory_limit!r}: {e}") from None
        # Timestamps are UTC in the store; make every cursor of this file read them as UTC.
        with contextlib.suppress(duckdb.Error):
            self.conn.execute("SET GLOBAL TimeZone = 'UTC'")
        self._write_lock = threading.RLock()
        if not read_only:
            try:
                self.history.ensure_writable()
                self.migrate()
                self.history.reconcile(self)
            except SegmentWriteError as e:
                self.conn.close()
                raise StoreError(str(e)) from None
            except BaseException:
                self.conn.close()
                raise

    # -- lifecycle -------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (DuckDB connections are not shared across threads)."""
        return self.conn.cursor()

    # -- schema ----------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()[0]
        if not exists:
            return 0
        return self.conn.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone()[0]

    def migrate(self) -> list[int]:
        """Apply the migrations this file has not seen; returns their numbers."""
        applied = []
        with self._write_lock:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            done = {
                v for (v,) in self.conn.execute("SELECT version FROM schema_migrations").fetchall()
            }
            known = {v for v, _, _ in MIGRATIONS}
            if done - known:
                raise StoreError(
                    f"{self.path}: schema version {max(done - known)} is newer than this "
                    f"opsengine knows ({max(known, default=0)}); upgrade opsengine"
                )
            # By number, each one not applied yet: domains developed side by side may land
            # their migrations out of numeric order, and each still runs exactly once.
            for version, name, sql in sorted(MIGRATIONS, key=lambda m: m[0]):
                if version in done:
                    continue
                with self.transaction() as cur:
                    if callable(sql):
                        # A data move may need the store (its data directory) too.
                        takes_store = len(inspect.signature(sql).parameters) > 1
                        sql(cur, self) if takes_store else sql(cur)
                    else:
                        cur.execute(sql)
                    cur.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        [version, name, datetime.now(UTC)],
                    )
                applied.append(version)
        return applied

    # -- writing ---------------------------------------------------------
    @property
    def write_lock(self) -> threading.RLock:
        """Held by every write transaction; hold it too to make a commit and what must follow
        it (an in-memory copy catching up) one step that no other write interleaves."""
        return self._write_lock

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction on the writer's cursor; rolled back on any error."""
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")
        with self._write_lock:
            cur = self.conn.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def append_history(
        self,
        tables: dict[str, Any],
        *,
        stored_at: datetime | Any,
        in_transaction=None,
    ) -> list[Segment]:
        """Append Arrow rows to ``logs``/``events`` as new segments, visible atomically, in
        the day partition of ``stored_at`` (the ingest time).

        The files are written first (the write lock is not held meanwhile), then one
        transaction catalogs them, rebuilds the views and runs ``in_transaction(cursor)``
        (checkpoints). On any failure the files are removed and nothing is visible.
        The caller holds ``history.lock`` when the rows' ids were reserved from it.
        """
        with self.history.lock:
            segments: list[Segment] = []
            try:
                segments += self.history.write_tables(tables, stored_at)
                with self.transaction() as cur:
                    self.history.commit(cur, segments)
                    if in_transaction is not None:
                        in_transaction(cur)
            except SegmentWriteError as e:
                self.history.discard(segments)
                raise StoreError(str(e)) from None
            except BaseException:
                self.history.discard(segments)
                raise
            return segments

    def next_id(self, cur: duckdb.DuckDBPyConnection, key: str, count: int) -> int:
        """Reserve ``count`` ids of the sequence ``key`` inside the caller's transaction."""
        row = cur.execute("SELECT value FROM engine_state WHERE key = ?", [f"seq:{key}"]).fetchone()
        first = int(row[0]) if row else 1
        cur.execute(
            "INSERT OR REPLACE INTO engine_state VALUES (?, ?)", [f"seq:{key}", str(first + count)]
        )
        return first

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = (
            self.cursor().execute("SELECT value FROM engine_state WHERE key = ?", [key]).fetchone()
        )
        return row[0] if row else default

    def set_state(self, key: str, value: str, cur: duckdb.DuckDBPyConnection | None = None) -> None:
        if cur is not None:
            cur.execute("INSERT OR REPLACE INTO engine_state VALUES (?, ?)", [key, value])
            return
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO engine_state VALUES (?, ?)", [key, value])

    # -- reading ---------------------------------------------------------
    def tables(self) -> list[str]:
        return [
            r[0]
            for r in self.cursor()
            .execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' ORDER BY table_name"
            )
            .fetchall()
        ]

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None):
        """Run a read query on a fresh cursor; returns a pyarrow Table."""
        cur = self.cursor()
        try:
            return cur.sql(sql, params=params or None).to_arrow_table()
        finally:
            cur.close()
