"""Reading back what ingestion stored: log lines and the rule matches on them (events).

Newest first, as pages of ``limit`` rows after a keyset position; every filter value is a
bound parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsengine.store import Store
from opsengine.store.rows import Where, query_rows

LOG_COLUMNS = "id, ts, ingested_at, host, source, app, pid, level, message, raw, template_id"
EVENT_COLUMNS = "ts, host, source, rule, severity, category, fields, log_id"


class LogSearch:
    """Search ``logs`` by time, host, source, level and text."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def search(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        host: str | None = None,
        source: str | None = None,
        level: str | None = None,
        text: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Lines newest first (by ``id``, the writer's increasing id), those with an id below
        ``before_id``; ``text`` matches a case-insensitive substring of the raw line."""
        where = Where()
        where.time_range("ts", start, end)
        where.equal(host=host, source=source, level=level)
        if text:
            where.add("contains(lower(raw), ?)", text.lower())
        if before_id is not None:
            where.add("id < ?", before_id)
        sql = f"SELECT {LOG_COLUMNS} FROM logs{where.sql()} ORDER BY id DESC LIMIT ?"
        return query_rows(self.store, sql, [*where.params, limit])

    def line(self, log_id: int) -> dict[str, Any] | None:
        found = query_rows(self.store, f"SELECT {LOG_COLUMNS} FROM logs WHERE id = ?", [log_id])
        return found[0] if found else None


class EventSearch:
    """Search ``events`` (rule matches on log lines) by time, host, source, rule and kind."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def search(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        host: str | None = None,
        source: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        category: str | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest line first (``log_id`` descending, then rule name), after the position
        ``after`` = (log_id, rule) in that order."""
        where = Where()
        where.time_range("ts", start, end)
        where.equal(host=host, source=source, rule=rule, severity=severity, category=category)
        if after is not None:
            where.add("(log_id < ? OR (log_id = ? AND rule > ?))", after[0], after[0], after[1])
        sql = f"SELECT {EVENT_COLUMNS} FROM events{where.sql()} ORDER BY log_id DESC, rule LIMIT ?"
        return query_rows(self.store, sql, [*where.params, limit])
