"""Every incident held in memory, so listing a page costs no query.

Why: a page of ``GET /api/v1/incidents`` from DuckDB costs 5-15 ms however small the
page is (the top-N scan, then turning TIMESTAMPTZ and MAP values into Python objects),
and the API must answer in a few ms at hundreds of requests per second.

The process that owns the database (``opsengine run``) is its only writer, so a copy
kept in step with every committed write is exact. :class:`IncidentIndex` is that copy:

* rows as frozen msgspec structs of the table's columns (as small as tuples, encoded to
  JSON as objects without a dict per row), with the values
  :func:`~opsengine.store.rows.fetch_dicts` returns (UTC datetimes, MAPs as dicts);
* the list order as one sorted list of int keys ``detected_at (µs) * 2**64 + id`` —
  ``detected_at DESC, id DESC`` is the reverse of the key order, and the keyset cursor is
  a key bound;
* a sorted key list per value of each equality filter (state, priority, service, host,
  fingerprint), so a selective filter walks only its own incidents.

A query walks, newest first, the smallest key list inside the time bounds and checks the
other filters on each row. The table is loaded in a background thread (the SQL path
answers until it is ready); writes that commit meanwhile are queued and applied on top
of the snapshot. After that, :meth:`IncidentIndex.reload` re-reads the rows a committed
transaction changed — one choke point instead of a copy of each UPDATE's logic. If that
re-read fails the index gives itself up (lists read the store) rather than serve stale rows.

Cost, measured on 100,000 incidents: about 1.2 KB of memory and 15-20 µs of loading per
incident; a page of 50 in 0.1-0.3 ms (``python/opsengine/bench/api_incidents.py``).
"""

from __future__ import annotations

import heapq
import logging
import threading
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import attrgetter
from typing import Any

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from opsengine.store import Store

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_SPAN = 1 << 64  # ids are BIGINT >= 0, so (detected_at, id) packs into one int key
FILTER_COLUMNS = ("state", "priority", "service", "host", "fingerprint")
# Repeated values (a host's name on thousands of incidents) are stored once.
SHARED_TEXT = frozenset(
    {"fingerprint", "rule", "category", "impact", "urgency", "priority", "state", "service",
     "host", "assignee"}
)  # fmt: skip
RELOAD_CHUNK = 1_000  # ids per reload statement (bound parameters)
BULK_DROP = 64  # past this many deleted incidents in one reload, lists are filtered once


def time_key(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (naive times are UTC, as in the store's session)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - EPOCH) // timedelta(microseconds=1)


def order_key(detected_us: int, incident_id: int) -> int:
    return detected_us * ID_SPAN + incident_id


def _remove(keys: list[int], key: int) -> None:
    at = bisect_left(keys, key)
    if at == len(keys) or keys[at] != key:
        raise IncidentIndexError(f"key {key} is not in the index (it was changed behind its back)")
    del keys[at]


class IncidentIndexError(RuntimeError):
    """The table holds something the index cannot hold (an id outside 0..2**64)."""


def _column(row: msgspec.Struct, name: str) -> Any:
    return getattr(row, name)


class IncidentIndex:
    """All incidents in memory, in list order, kept exact by :meth:`reload` after commits."""

    def __init__(self, store: Store, write_lock: threading.RLock) -> None:
        self.store = store
        # The lock every incident write holds through its commit and its reload: taking it
        # to finish loading means no write is half-applied when the index turns ready.
        self._write_lock = write_lock
        self._lock = threading.Lock()  # guards the structures below between readers/writers
        self.columns: tuple[str, ...] = ()
        self._select = ""
        self._convert: list[Callable[[list], list]] = []
        self._filter_values = attrgetter(*FILTER_COLUMNS)
        self.Row: type[msgspec.Struct] | None = None
        self._rows: dict[int, msgspec.Struct] = {}
        # Sorted plain lists: most incidents arrive newest, so an insert is an append, and a
        # list costs 8 bytes a key where a tree of nodes would cost far more per host.
        self._order: list[int] = []
        self._by: dict[str, dict[Any, list[int]]] = {c: {} for c in FILTER_COLUMNS}
        self._text: dict[str, str] = {}
        self._pending: dict[int, msgspec.Struct | None] | None = None  # writes while loading
        self.ready = False
        self.error: str | None = None
        self._loader: threading.Thread | None = None

    # -- the table's shape ------------------------------------------------------
    def _describe(self) -> None:
        """Column names, the row type, the SELECT list that reads them cheaply, and a
        converter per column (from the read's columns as Python lists to the values).

        TIMESTAMPTZ columns are read as epoch microseconds and MAPs as key/value lists:
        DuckDB's own conversion of those to Python is most of a read's cost.
        """
        cur = self.store.cursor()
        try:
            described = cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = 'incidents' ORDER BY ordinal_position"
            ).fetchall()
        finally:
            cur.close()
        if not described:
            raise IncidentIndexError(f"{self.store.path}: no incidents table")
        names, parts, convert, shared = [], [], [], []
        at = 0
        for name, kind in described:
            quoted = '"' + name.replace('"', '""') + '"'
            names.append(name)
            if kind == "TIMESTAMP WITH TIME ZONE":
                parts.append(f"epoch_us({quoted})")
                convert.append(
                    lambda c, i=at: [
                        None if us is None else EPOCH + timedelta(microseconds=us) for us in c[i]
                    ]
                )
                at += 1
            elif kind.startswith("MAP("):
                parts += [f"map_keys({quoted})", f"map_values({quoted})"]
                convert.append(
                    lambda c, i=at: [
                        self._labels(k, v) for k, v in zip(c[i], c[i + 1], strict=True)
                    ]
                )
                at += 2
            elif name in SHARED_TEXT:
                shared.append(at)
                parts.append(quoted)
                convert.append(lambda c, i=at: c[i])  # read shared already, see _fetch
                at += 1
            else:
                parts.append(quoted)
                convert.append(lambda c, i=at: c[i])
                at += 1
        self._shared_at = frozenset(shared)
        self.columns, self._select, self._convert = tuple(names), ", ".join(parts), convert
        # ``row["id"]`` reads like the dicts of the SQL path, for callers that take either.
        self.Row = msgspec.defstruct(
            "IncidentRow", names, frozen=True, gc=False, namespace={"__getitem__": _column}
        )

    def _shared(self, text: str | None) -> str | None:
        return None if text is None else self._text.setdefault(text, text)

    def _shared_column(self, column: pa.ChunkedArray) -> list[str | None]:
        """A text column with each distinct value one object (dictionary-encoded in Arrow)."""
        encoded = pc.dictionary_encode(column.combine_chunks())
        values = [self._shared(v) for v in encoded.dictionary.to_pylist()]
        return [None if i is None else values[i] for i in encoded.indices.to_pylist()]

    def _labels(self, keys: list | None, values: list | None) -> dict | None:
        if keys is None:
            return None
        return {self._shared(k): self._shared(v) for k, v in zip(keys, values, strict=True)}

    def _fetch(
        self, cur: duckdb.DuckDBPyConnection, where: str = "", params: Sequence = ()
    ) -> list[msgspec.Struct]:
        """Rows of the table; read through Arrow a column at a time, which turns 100,000
        rows into Python values several times faster than DuckDB's row tuples."""
        table = cur.sql(
            f"SELECT {self._select} FROM incidents{where}", params=list(params) or None
        ).to_arrow_table()
        raw = [
            self._shared_column(column) if at in self._shared_at else column.to_pylist()
            for at, column in enumerate(table.columns)
        ]
        row = self.Row
        return [row(*values) for values in zip(*(c(raw) for c in self._convert), strict=True)]

    # -- loading ---------------------------------------------------------------
    def start(self) -> IncidentIndex:
        """Load the table in a background thread; queries answer ``None`` until it is ready
        (for good when the table cannot be read: :attr:`error` says why)."""
        try:
            self._describe()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            log.exception("incident index not loaded; incident lists read the store")
            return self
        with self._write_lock:
            self._pending = {}  # from now on every committed write is queued, see reload()
        self._loader = threading.Thread(target=self._load, name="incident-index", daemon=True)
        self._loader.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading ended; True when the index is ready."""
        if self._loader is not None:
            self._loader.join(timeout)
        return self.ready

    def _give_up(self, error: Exception) -> None:
        log.error("incident index given up after %s: %s; incident lists read the store",
                  type(error).__name__, error)  # fmt: skip
        with self._lock:
            self.ready = False
            self._pending = None
            self.error = f"{type(error).__name__}: {error}"
            self._rows, self._order = {}, []
            self._by = {c: {} for c in FILTER_COLUMNS}

    def _load(self) -> None:
        try:
            cur = self.store.cursor()
            try:
                # One statement: a consistent snapshot, however many writes commit meanwhile.
                rows = self._fetch(cur)
            finally:
                cur.close()
            with self._write_lock, self._lock:
                if self.error is not None:
                    return  # a write's reload failed meanwhile: the snapshot would be stale
                self._put_all(rows)
                for incident_id, row in (self._pending or {}).items():
                    self._drop(incident_id)
                    if row is not None:
                        self._put(row)
                self._pending = None
                self.ready = True
            log.info("incident index ready: %d incidents in memory", len(rows))
        except Exception as e:  # the SQL path keeps answering; say why once
            self._give_up(e)

    # -- keeping it exact ---------------------------------------------------------
    def reload(self, ids: Iterable[int]) -> None:
        """Re-read these incidents after their transaction committed (a missing row is
        dropped). The caller holds the write lock, so no other write interleaves."""
        ids = sorted(set(ids))
        if not ids or (not self.ready and self._pending is None):
            return
        fresh: dict[int, msgspec.Struct | None] = dict.fromkeys(ids)
        try:
            cur = self.store.cursor()
            try:
                for start in range(0, len(ids), RELOAD_CHUNK):
                    chunk = ids[start : start + RELOAD_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    for row in self._fetch(cur, f" WHERE id IN ({marks})", chunk):
                        fresh[row.id] = row
            finally:
                cur.close()
        except Exception as e:
            # The write is committed; only the copy missed it. A stale list is worse than a
            # slow one: give up the index (lists read the store) and say why on /health.
            self._give_up(e)
            return
        failed: Exception | None = None
        with self._lock:
            if self._pending is not None:
                self._pending.update(fresh)
                return
            try:
                gone = [i for i, row in fresh.items() if row is None]
                if len(gone) > BULK_DROP:
                    # Deleted by retention (the oldest first): one pass per list, where one
                    # `del` per incident would shift each list once per incident.
                    self._drop_many(gone)
                for incident_id, row in fresh.items():
                    self._drop(incident_id)
                    if row is not None:
                        self._put(row)
            except Exception as e:
                self.ready = False  # no reader sees the half-applied copy
                failed = e
        if failed is not None:
            # Half applied: the copy can no longer be trusted (and the commit stands).
            self._give_up(failed)

    @staticmethod
    def _key(row: Any) -> int:
        if not 0 <= row.id < ID_SPAN:
            raise IncidentIndexError(f"incident id {row.id} is outside 0..2**64")
        return order_key(time_key(row.detected_at), row.id)

    def _put(self, row: Any) -> None:
        key = self._key(row)
        self._rows[row.id] = row
        insort(self._order, key)
        for column, value in zip(FILTER_COLUMNS, self._filter_values(row), strict=True):
            if value is not None:
                insort(self._by[column].setdefault(value, []), key)

    def _put_all(self, rows: list[Any]) -> None:
        """The first load: keys sorted once rather than inserted one by one."""
        by: list[dict[Any, list[int]]] = [{} for _ in FILTER_COLUMNS]
        order = []
        for row in rows:
            key = self._key(row)
            self._rows[row.id] = row
            order.append(key)
            for lists, value in zip(by, self._filter_values(row), strict=True):
                if value is not None:
                    lists.setdefault(value, []).append(key)
        self._order = sorted(order)
        for column, lists in zip(FILTER_COLUMNS, by, strict=True):
            for keys in lists.values():
                keys.sort()
            self._by[column] = lists

    def _drop(self, incident_id: int) -> None:
        row = self._rows.pop(incident_id, None)
        if row is None:
            return
        key = self._key(row)
        _remove(self._order, key)
        for column, value in zip(FILTER_COLUMNS, self._filter_values(row), strict=True):
            if value is None:
                continue
            keys = self._by[column][value]
            _remove(keys, key)
            if not keys:
                del self._by[column][value]  # values come and go (hosts): keep the map bounded

    def _drop_many(self, ids: list[int]) -> None:
        gone: set[int] = set()
        per_list: dict[tuple[str, Any], set[int]] = {}
        for incident_id in ids:
            row = self._rows.pop(incident_id, None)
            if row is None:
                continue
            key = self._key(row)
            gone.add(key)
            for column, value in zip(FILTER_COLUMNS, self._filter_values(row), strict=True):
                if value is not None:
                    per_list.setdefault((column, value), set()).add(key)
        before = len(self._order)
        self._order = [k for k in self._order if k not in gone]
        if before - len(self._order) != len(gone):
            raise IncidentIndexError("dropped keys are not in the index (changed behind its back)")
        for (column, value), keys in per_list.items():
            kept = [k for k in self._by[column][value] if k not in keys]
            if kept:
                self._by[column][value] = kept
            else:
                del self._by[column][value]

    def __len__(self) -> int:
        return len(self._rows)

    def health(self) -> dict[str, Any]:
        """For ``/health``: loading is normal (lists read the store meanwhile); a failed load
        is degraded: every list then costs a query."""
        if self.ready:
            return {"status": "ok", "state": "ready", "incidents": len(self._rows)}
        if self.error:
            return {"status": "degraded", "state": "failed", "error": self.error[:200]}
        return {"status": "ok", "state": "loading"}

    # -- answering ---------------------------------------------------------------
    def query(
        self,
        *,
        states: Sequence[str] | None,
        equal: dict[str, Any],
        since: datetime | None,
        until: datetime | None,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[Any] | None:
        """The rows ``IncidentService.list`` answers from SQL (as read-only :attr:`Row`
        records; :meth:`as_dict` makes the dicts), or None while not ready.

        ``equal`` maps filter columns (priority, service, host, fingerprint) to values;
        ``states`` is the list of states allowed (None: any).
        """
        if not self.ready:
            return None
        low = order_key(time_key(since), 0) if since is not None else None
        high = order_key(time_key(until), 0) if until is not None else None
        if before is not None:
            # detected_at < t OR (detected_at = t AND id < n): every key below (t, n).
            bound = order_key(time_key(before[0]), min(max(before[1], 0), ID_SPAN))
            high = bound if high is None else min(high, bound)
        with self._lock:
            if not self.ready:
                return None
            walk = self._driver(states, equal, low, high)
            checks = list(equal.items())
            allowed = None if states is None else frozenset(states)
            found: list[Any] = []
            rows = self._rows
            for key in walk:
                row = rows[key % ID_SPAN]
                if allowed is not None and row.state not in allowed:
                    continue
                if all(getattr(row, column) == value for column, value in checks):
                    found.append(row)
                    if len(found) >= limit:
                        break
        return found

    def _driver(
        self,
        states: Sequence[str] | None,
        equal: dict[str, Any],
        low: int | None,
        high: int | None,
    ) -> Iterator[int]:
        """Keys newest first from the key list(s) with the fewest entries in the bounds."""

        def span(keys: list[int]) -> tuple[int, int]:
            start = 0 if low is None else bisect_left(keys, low)
            end = len(keys) if high is None else bisect_left(keys, high)
            return start, max(start, end)

        def count(keys: list[int]) -> int:
            start, end = span(keys)
            return end - start

        def newest_first(keys: list[int]) -> Iterator[int]:
            start, end = span(keys)
            return islice(reversed(keys), len(keys) - end, len(keys) - start)

        candidates: list[tuple[int, list[list[int]]]] = [(count(self._order), [self._order])]
        for column, value in equal.items():
            keys = self._by[column].get(value)
            if keys is None:
                return iter(())
            candidates.append((count(keys), [keys]))
        if states is not None:
            lists = [self._by["state"][s] for s in set(states) if s in self._by["state"]]
            candidates.append((sum(count(k) for k in lists), lists))
        _, lists = min(candidates, key=lambda c: c[0])
        if len(lists) == 1:
            return newest_first(lists[0])
        return heapq.merge(*(newest_first(k) for k in lists), reverse=True)

    @staticmethod
    def as_dict(row: msgspec.Struct) -> dict[str, Any]:
        """A row as the SQL path's dict; fresh (labels too), so the caller may change it."""
        out = msgspec.structs.asdict(row)
        if isinstance(out.get("labels"), dict):
            out["labels"] = dict(out["labels"])
        return out
