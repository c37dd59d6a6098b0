"""What read services share: WHERE clauses built from optional filters, and rows as dicts.

A domain's read service (log search, event search, metric search, the alert log) builds its
SQL with :class:`Where` (every value a bound parameter) and runs it with :func:`query_rows`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsengine.store.db import Store


class Where:
    """WHERE clauses with their bound values, built from optional filters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    def equal(self, **columns: Any) -> None:
        """``column = ?`` for each given value that is not None (names are ours, never input)."""
        for column, value in columns.items():
            if value is not None:
                self.add(f"{column} = ?", value)

    def time_range(self, column: str, start: datetime | None, end: datetime | None) -> None:
        """Start inclusive, end exclusive; either may be None (open)."""
        if start is not None:
            self.add(f"{column} >= ?", start)
        if end is not None:
            self.add(f"{column} < ?", end)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def query_rows(store: Store, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a read as dicts, straight from DuckDB's cursor: for a page of results this is
    2-3x quicker than going through Arrow, and DuckDB's maps already arrive as dicts."""
    cur = store.cursor()
    try:
        # Times come back in the cursor's zone; the API speaks UTC whatever the host's TZ is.
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(sql, params)
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    finally:
        cur.close()


def schema_version(store: Store) -> int | None:
    """The highest migration applied to the store (on this thread's own cursor)."""
    return store.query("SELECT max(version) AS v FROM schema_migrations").column(0)[0].as_py()
