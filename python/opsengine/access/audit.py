"""The audit log: who did what, when, from where, and how it ended.

Every API request that writes (POST, PUT, PATCH, DELETE) and every failed
authentication gets a row in ``audit_log``; so do key changes from the command line.
Rows name the key id and role, never a token or a request body.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pyarrow as pa

from opsengine.store import Store

log = logging.getLogger("opsengine.api")

MAX_TEXT = 500
MAX_BUFFERED = 100_000  # rows held while the store cannot take them


def outcome_for(status: int) -> str:
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "denied"
    if status >= 500:
        return "failed"
    if status >= 400:
        return "rejected"
    return "ok"


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    outcome: str
    status: int | None = None
    actor_name: str | None = None
    role: str | None = None
    client: str | None = None
    detail: str | None = None
    ts: datetime | None = None


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_TEXT]


class AuditTrail:
    """Appends to and reads the ``audit_log`` table.

    Rows are buffered and written together, one transaction at most every
    ``flush_seconds`` (and on :meth:`flush`/:meth:`close`), because a commit per API
    write would cost as much as the write itself. A crash loses at most that interval
    of audit rows; a failed flush keeps the rows for the next try and is logged.
    """

    def __init__(self, store: Store, *, flush_seconds: float = 1.0) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._buffer: list[AuditEntry] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0  # rows lost after MAX_BUFFERED was reached while the store failed

    def record(self, entry: AuditEntry) -> None:
        if entry.ts is None:
            entry = replace(entry, ts=datetime.now(UTC))
        with self._lock:
            if len(self._buffer) >= MAX_BUFFERED:
                self.dropped += 1
                return
            self._buffer.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._flush_periodically, name="audit-flush", daemon=True
                )
                self._thread.start()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:
                log.exception("audit log flush failed; the rows are kept for the next try")

    def flush(self) -> int:
        """Write the buffered rows in one transaction; returns how many."""
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return 0
            table = pa.table(
                {
                    "ts": pa.array([e.ts for e in rows], pa.timestamp("us", tz="UTC")),
                    "actor": [_clip(e.actor) for e in rows],
                    "actor_name": [_clip(e.actor_name) for e in rows],
                    "role": [e.role for e in rows],
                    "action": [_clip(e.action) for e in rows],
                    "client": [_clip(e.client) for e in rows],
                    "outcome": [e.outcome for e in rows],
                    "status": pa.array([e.status for e in rows], pa.int32()),
                    "detail": [_clip(e.detail) for e in rows],
                }
            )
            try:
                with self.store.transaction() as cur:
                    cur.register("audit_batch", table)
                    try:
                        cur.execute(
                            "INSERT INTO audit_log (ts, actor, actor_name, role, action, client, "
                            "outcome, status, detail) SELECT ts, actor, actor_name, role, action, "
                            "client, outcome, status, detail FROM audit_batch"
                        )
                    finally:
                        cur.unregister("audit_batch")
            except BaseException:
                with self._lock:
                    self._buffer[:0] = rows
                raise
            return len(rows)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def recent(
        self,
        *,
        limit: int = 100,
        before: datetime | None = None,
        actor: str | None = None,
        outcome: str | None = None,
    ) -> pa.Table:
        """Newest first; ``before`` pages back in time. Buffered rows are written first."""
        self.flush()
        where, params = [], []
        if before is not None:
            where.append("ts < ?")
            params.append(before)
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if outcome is not None:
            where.append("outcome = ?")
            params.append(outcome)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC LIMIT ?"
        params.append(limit)
        return self.store.query(sql, params)
