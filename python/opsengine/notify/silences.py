"""Silences and maintenance windows: label matchers over a time span that mute notices.

Both mute notifications only; the incident is still opened, recorded and marked
``suppressed_by``. A silence is an operator's ad-hoc mute (author and comment required,
as in Alertmanager); a maintenance window is a named, planned span. Times compare with
the event time of the incident change, so a replay honours the same silences.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from opsengine.notify.matchers import Matcher, MatcherError, all_match, parse_matchers, to_stored
from opsengine.store import Store
from opsengine.store.rows import bounded_text, query_dicts, utc

_KINDS = {"silence": "silences", "maintenance": "maintenance_windows"}


class SilenceError(ValueError):
    """A silence or maintenance window that cannot be used; the message names the field."""


class Silences:
    """Silences and maintenance windows in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_silence(
        self,
        matchers: list[str] | list[Matcher],
        *,
        starts_at: datetime | None,
        ends_at: datetime,
        author: str,
        comment: str,
        at: datetime | None = None,
    ) -> int:
        return self._create("silence", None, matchers, starts_at, ends_at, author, comment, at)

    def create_maintenance(
        self,
        name: str,
        matchers: list[str] | list[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        comment: str = "",
        at: datetime | None = None,
    ) -> int:
        name = bounded_text(name, "name", 200, error=SilenceError)
        return self._create("maintenance", name, matchers, starts_at, ends_at, author, comment, at)

    def _create(self, kind, name, matchers, starts_at, ends_at, author, comment, at) -> int:
        try:
            parsed = parse_matchers(matchers)
        except MatcherError as e:
            raise SilenceError(f"matchers: {e}") from None
        if not parsed:
            raise SilenceError("matchers: at least one matcher is required")
        author = bounded_text(author, "author", 128, error=SilenceError)
        comment = (
            bounded_text(comment, "comment", 2000, required=kind == "silence", error=SilenceError)
            or ""
        )
        created = utc(at, "at")
        starts = utc(starts_at, "starts_at") if starts_at is not None else created
        ends = utc(ends_at, "ends_at")
        if ends <= starts:
            raise SilenceError("ends_at must be after starts_at")
        table = _KINDS[kind]
        with self.store.transaction() as cur:
            new_id = self.store.next_id(cur, table, 1)
            values = [new_id, json.dumps(to_stored(parsed)), starts, ends, author, comment, created]
            if kind == "maintenance":
                values.insert(1, name)
            cur.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values))})", values)
        return new_id

    def expire(self, kind: str, item_id: int, *, at: datetime | None = None) -> None:
        """End a silence or maintenance window now (kept for the record)."""
        table = self._table(kind)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            row = cur.execute(f"SELECT ends_at FROM {table} WHERE id = ?", [item_id]).fetchone()
            if row is None:
                raise SilenceError(f"{kind} {item_id}: no such {kind}")
            cur.execute(
                f"UPDATE {table} SET ends_at = least(ends_at, ?) WHERE id = ?", [now, item_id]
            )

    def list(
        self,
        kind: str,
        *,
        active_at: datetime | None = None,
        ending_after: datetime | None = None,
    ) -> list[dict[str, Any]]:
        table = self._table(kind)
        sql, params = f"SELECT * FROM {table}", []
        if active_at is not None:
            sql += " WHERE starts_at <= ? AND ends_at > ?"
            params = [utc(active_at), utc(active_at)]
        elif ending_after is not None:
            sql += " WHERE ends_at > ?"
            params = [utc(ending_after)]
        rows = query_dicts(self.store, sql + " ORDER BY starts_at, id", params)
        for r in rows:
            r["matchers"] = [f"{n}{op}{v}" for n, op, v in json.loads(r["matchers"])]
        return rows

    def everything(
        self, *, ending_after: datetime | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """(kind, item) for every maintenance window, then every silence (those still in
        force after ``ending_after``, when given: expired ones pile up over the years).

        One statement for both tables: it runs for every batch of incident changes."""
        since = utc(ending_after) if ending_after is not None else None
        rows = query_dicts(
            self.store,
            "SELECT 'maintenance' AS kind, * FROM maintenance_windows "
            "WHERE $since IS NULL OR ends_at > $since "
            "UNION ALL BY NAME SELECT 'silence' AS kind, * FROM silences "
            "WHERE $since IS NULL OR ends_at > $since "
            "ORDER BY kind, starts_at, id",
            {"since": since},
        )
        out = []
        for r in rows:
            kind = r.pop("kind")
            if kind == "silence":
                r.pop("name", None)
            r["matchers"] = [f"{n}{op}{v}" for n, op, v in json.loads(r["matchers"])]
            out.append((kind, r))
        return out

    def muting(
        self,
        labels: dict[str, str],
        at: datetime,
        items: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> str | None:
        """Why a notice for ``labels`` at ``at`` is muted (silence or maintenance), or None.

        ``items`` is :meth:`everything`, when the caller has it already.
        """
        items = self.everything(ending_after=at) if items is None else items
        for kind, item in items:
            if not item["starts_at"] <= at < item["ends_at"]:
                continue
            if all_match(parse_matchers(item["matchers"]), labels):
                if kind == "maintenance":
                    return f"maintenance {item['id']} ({item['name']})"
                return f"silence {item['id']} by {item['author']}"
        return None

    @staticmethod
    def _table(kind: str) -> str:
        if kind not in _KINDS:
            raise SilenceError(f"kind must be silence or maintenance, got {kind!r}")
        return _KINDS[kind]
