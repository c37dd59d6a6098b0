"""The incident service: ``engine.incidents``. Operator actions, reads, and the listeners.

Every change is written with its timeline row (``incident_events``: who, when, what) in
one transaction; listeners (problems, notifications) hear about it after the commit, so
a failing listener never undoes an incident. Alert-driven changes come from
:mod:`opsengine.incidents.correlation`; this module holds what both share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from opsengine.alerts import fingerprint
from opsengine.config import ConfigError, IncidentSettings
from opsengine.durations import parse_duration
from opsengine.incidents.correlation import AlertCorrelator
from opsengine.incidents.index import IncidentIndex
from opsengine.incidents.model import (
    CATEGORIES,
    INCIDENT_CATEGORIES,
    LEVELS,
    OPEN_STATES,
    STATES,
    IncidentChange,
    IncidentError,
    IncidentNotFound,
    InvalidTransition,
    check_transition,
    priority,
)
from opsengine.incidents.retention import BATCH, RetentionHook, delete_finished, id_mark
from opsengine.incidents.review import post_incident_review
from opsengine.store import Store
from opsengine.store.rows import MAP_PARAM, bounded_text, dumps, fetch_dicts, map_args, utc

log = logging.getLogger(__name__)

IncidentListener = Callable[[list[IncidentChange]], None]

MAX_NOTE = 10_000
MAX_NAME = 128
MAX_TITLE = 500
MAX_LIST = 1_000

#: Incident columns :meth:`IncidentService.update_incident` sets to plain values.
UPDATABLE = frozenset(
    {"assignee", "updated_at", "impact", "urgency", "priority", "suppressed_by",
     "known_error_id", "flap_count", "flapping"}
)  # fmt: skip


def _setting_duration(settings: IncidentSettings, key: str) -> float:
    try:
        return parse_duration(getattr(settings, key))
    except ValueError as e:
        raise ConfigError(f"[incidents] {key}: {e}") from None


class IncidentService:
    """Incidents in the store: open them from alerts, act on them, read them."""

    def __init__(self, store: Store, settings: IncidentSettings | None = None) -> None:
        self.store = store
        self.settings = settings or IncidentSettings()
        self.group_window = _setting_duration(self.settings, "group_window")
        self.flap_window = _setting_duration(self.settings, "flap_window")
        self._listeners: list[tuple[str, IncidentListener]] = []
        # Domains that keep rows about incidents (notify, problems): see add_retention_hook.
        self._retention_hooks: dict[str, RetentionHook] = {}
        # Other domains' changes for the post-incident review: name → fn(start, end) → rows.
        self.change_feeds: dict[str, Callable[[datetime, datetime], list[dict[str, Any]]]] = {}
        self.listener_errors: dict[str, int] = {}
        # Ids are counted here rather than in engine_state: this process is the only writer
        # of the file, and a statement per id was most of an incident's cost. A rolled-back
        # transaction leaves a gap, nothing worse.
        self._ids: dict[str, int] = {}
        self._ids_lock = threading.Lock()
        # Incidents held in memory for list() (see load_index); None: lists read the store.
        self.index: IncidentIndex | None = None
        self._changed: set[int] | None = None  # ids written by the open transaction()
        self._writer: int | None = None  # the thread that runs it

    # -- the write choke point -------------------------------------------------
    def load_index(self) -> IncidentIndex:
        """Hold every incident in memory so :meth:`list` answers without a query; for the
        process that owns the store. Loads in the background; until then lists read SQL."""
        if self.index is None:
            # Assigned before the loader starts: a write committing while it takes its
            # snapshot must find the index to queue its re-read on.
            index = IncidentIndex(self.store, self.store.write_lock)
            self.index = index
            index.start()
        return self.index

    @property
    def lists_from_memory(self) -> bool:
        """Whether :meth:`list` answers from the index: no query, nothing that blocks."""
        return self.index is not None and self.index.ready

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The store transaction every incident write runs in. The incidents it changed
        (:meth:`insert_incident`, :meth:`update_incident`) are re-read into the index after
        the commit, under the write lock; a rollback leaves the index as it was."""
        with self.store.write_lock:
            outer, self._changed = self._changed, set()
            outer_writer, self._writer = self._writer, threading.get_ident()
            try:
                with self.store.transaction() as cur:
                    yield cur
                changed = self._changed
            finally:
                self._changed, self._writer = outer, outer_writer
            if self.index is not None and changed:
                self.index.reload(changed)

    def update_incident(
        self, cur: duckdb.DuckDBPyConnection, incident_id: int, **fields: Any
    ) -> None:
        """Set columns of one incident row to values, in the caller's transaction:
        ``update_incident(cur, 7, flap_count=2, flapping=True)``. Only the columns in
        :data:`UPDATABLE` can be set this way (state moves go through :meth:`set_state`)."""
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown or not fields:
            raise ValueError(f"incident columns that cannot be set: {unknown or 'none given'}")
        # Column names are checked against UPDATABLE above, never input.
        assignments = ", ".join(f"{column} = ?" for column in fields)
        self._write_row(cur, incident_id, assignments, list(fields.values()))

    def touch(
        self, cur: duckdb.DuckDBPyConnection, incident_id: int, seen_at: datetime, new_alerts: int
    ) -> None:
        """An alert of this incident was seen again: ``last_seen_at`` and ``updated_at`` move
        forward to ``seen_at`` (never back: alerts arrive out of order), ``alert_count``
        grows by ``new_alerts``."""
        self._write_row(
            cur,
            incident_id,
            "last_seen_at = greatest(last_seen_at, ?), alert_count = alert_count + ?, "
            "updated_at = greatest(updated_at, ?)",
            [seen_at, new_alerts, seen_at],
        )

    def _write_row(
        self, cur: duckdb.DuckDBPyConnection, incident_id: int, assignments: str, params: Sequence
    ) -> None:
        """``UPDATE incidents SET <assignments> WHERE id = ?``: every change of an incident
        row goes through here so the index hears of it (``assignments`` is this module's
        SQL; values are bound)."""
        self._mark_changed(incident_id)
        cur.execute(f"UPDATE incidents SET {assignments} WHERE id = ?", [*params, incident_id])

    def _mark_changed(self, incident_id: int) -> None:
        if self._changed is None or self._writer != threading.get_ident():
            # A write outside transaction() would leave the in-memory index wrong.
            raise RuntimeError("incident rows are written only in IncidentService.transaction()")
        self._changed.add(incident_id)

    def _next_id(self, table: str) -> int:
        with self._ids_lock:
            if table not in self._ids:
                cur = self.store.cursor()
                try:
                    # Table names are this module's constants, never input. Retention may
                    # have deleted the highest ids: counting goes on from its mark.
                    row = cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
                    mark = id_mark(cur, table)
                finally:
                    cur.close()
                self._ids[table] = max(row[0], mark)
            self._ids[table] += 1
            return self._ids[table]

    # -- listeners -------------------------------------------------------
    def listen(self, name: str, fn: IncidentListener) -> None:
        """Call ``fn(changes)`` after each committed batch of incident changes, in order."""
        self._listeners.append((name, fn))

    def add_retention_hook(self, name: str, hook: RetentionHook) -> None:
        """A domain that keeps rows about incidents registers here once: :meth:`prune` spares
        the incidents it holds and lets it delete its rows about those that go."""
        self._retention_hooks[name] = hook

    def emit(self, changes: list[IncidentChange]) -> None:
        if not changes:
            return
        for name, fn in self._listeners:
            try:
                fn(changes)
            except Exception:
                self.listener_errors[name] = self.listener_errors.get(name, 0) + 1
                log.exception("incident listener %s failed on %d change(s)", name, len(changes))

    # -- alerts in ---------------------------------------------------------
    def on_alert_changes(self, table: pa.Table) -> list[IncidentChange]:
        """The ``engine.alerts`` subscriber: apply ALERT_CHANGES rows in event-time order."""
        with self.transaction() as cur:
            changes = AlertCorrelator(self, cur).apply(table)
        self.emit(changes)
        return changes

    # -- shared writers (inside the caller's transaction) -------------------
    def add_event(
        self,
        cur: duckdb.DuckDBPyConnection,
        incident_id: int,
        ts: datetime,
        actor: str,
        kind: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        event_id = self._next_id("incident_events")
        cur.execute(
            "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?, ?)",
            [event_id, incident_id, ts, actor, kind, dumps(detail) if detail else None],
        )

    def insert_incident(self, cur: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> int:
        incident_id = self._next_id("incidents")
        self._mark_changed(incident_id)
        cur.execute(
            f"""INSERT INTO incidents (id, fingerprint, rule, title, category, impact, urgency,
                priority, state, service, host, labels, assignee, alert_count, auto_resolve,
                flap_count, flapping, suppressed_by, known_error_id, started_at, detected_at,
                last_seen_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'triggered', ?, ?, {MAP_PARAM}, NULL, ?, ?, 0, false,
                ?, NULL, ?, ?, ?, ?)""",
            [
                incident_id,
                row["fingerprint"],
                row["rule"],
                row["title"],
                row["category"],
                row["impact"],
                row["urgency"],
                priority(row["impact"], row["urgency"]),
                row.get("service"),
                row.get("host"),
                *map_args(row.get("labels")),
                row.get("alert_count", 1),
                row.get("auto_resolve", True),
                row.get("suppressed_by"),
                row["started_at"],
                row["detected_at"],
                row["detected_at"],
                row["detected_at"],
            ],
        )
        return incident_id

    def load(self, cur: duckdb.DuckDBPyConnection, incident_id: int) -> dict[str, Any]:
        if isinstance(incident_id, bool) or not isinstance(incident_id, int):
            raise IncidentError(f"incident id must be a whole number, got {incident_id!r}")
        rows = fetch_dicts(cur, "SELECT * FROM incidents WHERE id = ?", [incident_id])
        if not rows:
            raise IncidentNotFound(f"incident {incident_id}: no such incident")
        return rows[0]

    # -- operator actions --------------------------------------------------
    def create(
        self,
        title: str,
        *,
        actor: str,
        category: str = "error",
        impact: str = "medium",
        urgency: str = "medium",
        service: str | None = None,
        host: str | None = None,
        labels: dict[str, str] | None = None,
        started_at: datetime | None = None,
        at: datetime | None = None,
    ) -> int:
        """Open an incident by hand (a phone call, a user report); returns its id."""
        title = bounded_text(title, "title", MAX_TITLE, error=IncidentError)
        actor = self._actor(actor)
        if category not in INCIDENT_CATEGORIES:
            category = CATEGORIES.get(category, category)
        if category not in INCIDENT_CATEGORIES:
            raise IncidentError(
                f"category must be one of {', '.join(INCIDENT_CATEGORIES)}, got {category!r}"
            )
        priority(impact, urgency)  # validates both
        now = utc(at, "at")
        started = utc(started_at, "started_at") if started_at else now
        if started > now:
            # MTTD is detected_at − started_at: evidence after detection would make it negative.
            raise IncidentError(
                f"started_at {started.isoformat()} is after the detection time {now.isoformat()}"
            )
        labels = {str(k): str(v) for k, v in (labels or {}).items()}
        row = {
            "fingerprint": fingerprint("manual", {**labels, "title": title}),
            "rule": "manual",
            "title": title,
            "category": category,
            "impact": impact,
            "urgency": urgency,
            "service": service,
            "host": host,
            "labels": labels,
            "auto_resolve": False,
            "started_at": started,
            "detected_at": now,
        }
        with self.transaction() as cur:
            incident_id = self.insert_incident(cur, row)
            self.add_event(cur, incident_id, now, actor, "opened", {"by": "hand", "title": title})
        self.emit([IncidentChange("opened", incident_id, now, actor)])
        return incident_id

    def acknowledge(self, incident_id: int, *, actor: str, at: datetime | None = None) -> dict:
        return self._move(incident_id, "acknowledged", actor, at)

    def resolve(
        self, incident_id: int, *, actor: str, at: datetime | None = None, note: str | None = None
    ) -> dict:
        return self._move(incident_id, "resolved", actor, at, note=note)

    def close(
        self, incident_id: int, *, actor: str, at: datetime | None = None, note: str | None = None
    ) -> dict:
        return self._move(incident_id, "closed", actor, at, note=note)

    def reopen(
        self, incident_id: int, *, actor: str, at: datetime | None = None, note: str | None = None
    ) -> dict:
        return self._move(incident_id, "triggered", actor, at, note=note)

    def _move(
        self,
        incident_id: int,
        wanted: str,
        actor: str,
        at: datetime | None,
        *,
        note: str | None = None,
    ) -> dict:
        actor = self._actor(actor)
        note = bounded_text(note, "note", MAX_NOTE, required=False, error=IncidentError)
        now = utc(at, "at")
        with self.transaction() as cur:
            inc = self.load(cur, incident_id)
            check_transition(incident_id, inc["state"], wanted)
            self.set_state(cur, inc, wanted, now, actor, note=note)
        kind = "reopened" if wanted == "triggered" else wanted
        self.emit([IncidentChange(kind, incident_id, now, actor)])
        return self.get(incident_id)

    def set_state(
        self,
        cur: duckdb.DuckDBPyConnection,
        inc: dict[str, Any],
        wanted: str,
        now: datetime,
        actor: str,
        *,
        note: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Write a state change and its timeline row (the transition is already checked).

        ``acknowledged_at`` keeps the first acknowledgement (MTTA counts it); reopening
        clears ``resolved_at`` and ``closed_at`` so MTTR counts the final resolution.
        """
        sets = ["state = ?", "updated_at = ?"]
        params: list[Any] = [wanted, now]
        if wanted == "acknowledged":
            sets.append("acknowledged_at = coalesce(acknowledged_at, ?)")
            params.append(now)
        elif wanted == "resolved":
            sets.append("resolved_at = ?")
            params.append(now)
        elif wanted == "closed":
            sets.append("closed_at = ?")
            params.append(now)
        elif wanted == "triggered":
            sets.append("resolved_at = NULL, closed_at = NULL")
        self._write_row(cur, inc["id"], ", ".join(sets), params)
        info = {"from": inc["state"], "to": wanted, **(detail or {})}
        if note:
            info["note"] = note
        self.add_event(cur, inc["id"], now, actor, "state", info)

    def assign(
        self, incident_id: int, assignee: str | None, *, actor: str, at: datetime | None = None
    ) -> dict:
        actor = self._actor(actor)
        assignee = bounded_text(assignee, "assignee", MAX_NAME, required=False, error=IncidentError)
        now = utc(at, "at")
        with self.transaction() as cur:
            inc = self.load(cur, incident_id)
            self.update_incident(cur, incident_id, assignee=assignee, updated_at=now)
            self.add_event(
                cur, incident_id, now, actor, "assigned", {"from": inc["assignee"], "to": assignee}
            )
        self.emit([IncidentChange("assigned", incident_id, now, actor)])
        return self.get(incident_id)

    def add_note(
        self, incident_id: int, text: str, *, actor: str, at: datetime | None = None
    ) -> dict:
        actor = self._actor(actor)
        text = bounded_text(text, "note", MAX_NOTE, error=IncidentError)
        now = utc(at, "at")
        with self.transaction() as cur:
            self.load(cur, incident_id)
            self.add_event(cur, incident_id, now, actor, "note", {"text": text})
            self.update_incident(cur, incident_id, updated_at=now)
        return self.get(incident_id)

    def set_priority(
        self,
        incident_id: int,
        *,
        impact: str,
        urgency: str,
        actor: str,
        at: datetime | None = None,
    ) -> dict:
        """Re-rate impact and urgency; the priority follows the matrix."""
        actor = self._actor(actor)
        new = priority(impact, urgency)
        now = utc(at, "at")
        with self.transaction() as cur:
            inc = self.load(cur, incident_id)
            self.update_incident(
                cur, incident_id, impact=impact, urgency=urgency, priority=new, updated_at=now
            )
            self.add_event(
                cur, incident_id, now, actor, "priority", {"from": inc["priority"], "to": new}
            )
        return self.get(incident_id)

    def mark_suppressed(self, incident_id: int, reason: str, ts: datetime) -> None:
        """Record that notifications for this incident are muted (the incident stays)."""
        with self.transaction() as cur:
            inc = self.load(cur, incident_id)
            if inc["suppressed_by"] == reason:
                return
            self.update_incident(cur, incident_id, suppressed_by=reason)
            self.add_event(cur, incident_id, ts, "system", "suppressed", {"by": reason})

    def attach_known_error(
        self, incident_id: int, known_error_id: int, title: str, ts: datetime
    ) -> None:
        with self.transaction() as cur:
            self.load(cur, incident_id)
            self.update_incident(cur, incident_id, known_error_id=known_error_id)
            self.add_event(
                cur,
                incident_id,
                ts,
                "system",
                "known_error",
                {"known_error_id": known_error_id, "title": title},
            )

    def record(
        self,
        incident_id: int,
        ts: datetime,
        kind: str,
        detail: dict[str, Any],
        *,
        cur: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """A system timeline row (escalations, notifications, problem links); written in
        the caller's transaction ``cur`` when given, else in one of its own."""
        if cur is not None:
            self.add_event(cur, incident_id, ts, "system", kind, detail)
            return
        with self.transaction() as own:
            self.add_event(own, incident_id, ts, "system", kind, detail)

    def prune(self, before: datetime) -> int:
        """Delete incidents resolved or closed before ``before`` with their timeline and
        alert links, and (through their retention hooks) what other domains keep about them
        (:mod:`opsengine.incidents.retention`); returns how many.
        The in-memory index drops them with the commit."""
        total = 0
        while True:
            with self.transaction() as cur:
                ids = delete_finished(cur, before, list(self._retention_hooks.values()))
                for incident_id in ids:
                    self._mark_changed(incident_id)
            total += len(ids)
            if len(ids) < BATCH:
                break
        if total:
            log.info("retention: deleted %d incidents finished before %s", total, before)
        return total

    # -- reads ---------------------------------------------------------------
    def row(self, incident_id: int) -> dict[str, Any]:
        """The incident's own columns (one statement; :meth:`get` adds its alerts)."""
        cur = self.store.cursor()
        try:
            return self.load(cur, incident_id)
        finally:
            cur.close()

    def get(self, incident_id: int) -> dict[str, Any]:
        cur = self.store.cursor()
        try:
            inc = self.load(cur, incident_id)
            inc["alerts"] = fetch_dicts(
                cur,
                "SELECT fingerprint, rule, active_since, state, updated_at FROM incident_alerts "
                "WHERE incident_id = ? ORDER BY active_since, fingerprint",
                [incident_id],
            )
            return inc
        finally:
            cur.close()

    def detected_between(
        self,
        cur: duckdb.DuckDBPyConnection,
        fingerprint: str,
        since: datetime,
        until: datetime,
        limit: int,
    ) -> list[int]:
        """Ids (ascending) of the latest ``limit`` incidents of ``fingerprint`` detected in
        [since, until], read in the caller's transaction ``cur``."""
        return [
            r[0]
            for r in cur.execute(
                "SELECT id FROM (SELECT id FROM incidents WHERE fingerprint = ? "
                "AND detected_at >= ? AND detected_at <= ? "
                "ORDER BY detected_at DESC, id DESC LIMIT ?) ORDER BY id",
                [fingerprint, since, until, limit],
            ).fetchall()
        ]

    def timeline(self, incident_id: int) -> list[dict[str, Any]]:
        cur = self.store.cursor()
        try:
            self.load(cur, incident_id)
            rows = fetch_dicts(
                cur,
                "SELECT ts, actor, kind, detail FROM incident_events WHERE incident_id = ? "
                "ORDER BY ts, id",
                [incident_id],
            )
        finally:
            cur.close()
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
        return rows

    def list(
        self,
        *,
        state: str | Iterable[str] | None = None,
        priority: str | None = None,
        service: str | None = None,
        host: str | None = None,
        fingerprint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: tuple[datetime, int] | None = None,
        limit: int = 100,
        records: bool = False,
    ) -> list[dict[str, Any]]:
        """Incidents newest first (by ``detected_at``, then id); filters combine with AND.

        ``before`` = (detected_at, id) of the last incident of the previous page.
        ``records=True``: rows served from memory come as the index's read-only records
        (``row["id"]`` works; JSON-encoded like the dicts) — for callers that only read and
        serialise, such as the API, spared a dict per row.
        """
        where, params = [], []
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            if state == "open":
                states = list(OPEN_STATES)
            bad = [s for s in states if s not in STATES]
            if bad:
                raise IncidentError(
                    f"state must be one of open, {', '.join(STATES)}, got {bad[0]!r}"
                )
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += states
        equal = {
            column: value
            for column, value in (
                ("priority", priority),
                ("service", service),
                ("host", host),
                ("fingerprint", fingerprint),
            )
            if value is not None
        }
        for column, value in equal.items():
            where.append(f"{column} = ?")
            params.append(value)
        if since is not None:
            since = utc(since, "since")
            where.append("detected_at >= ?")
            params.append(since)
        if until is not None:
            until = utc(until, "until")
            where.append("detected_at < ?")
            params.append(until)
        if before is not None:
            where.append("(detected_at < ? OR (detected_at = ? AND id < ?))")
            params += [before[0], before[0], before[1]]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST + 1:
            raise IncidentError(f"limit must be 1..{MAX_LIST}, got {limit!r}")
        if self.index is not None:
            found = self.index.query(
                states=None if state is None else states,
                equal=equal,
                since=since,
                until=until,
                before=before,
                limit=limit,
            )
            if found is not None:  # None: still loading
                return found if records else [self.index.as_dict(r) for r in found]
        # Top-N on the two sort columns first, then the whole rows of that page only:
        # sorting every column of every incident costs 2x on a large table.
        page = "SELECT id FROM incidents"
        if where:
            page += " WHERE " + " AND ".join(where)
        page += " ORDER BY detected_at DESC, id DESC LIMIT ?"
        sql = f"SELECT * FROM incidents WHERE id IN ({page}) ORDER BY detected_at DESC, id DESC"
        cur = self.store.cursor()
        try:
            return fetch_dicts(cur, sql, [*params, limit])
        finally:
            cur.close()

    def review(
        self, incident_id: int, *, margin: str = "30m", changes_before: str = "24h"
    ) -> dict[str, Any]:
        """The post-incident review (see :mod:`opsengine.incidents.review`)."""
        return post_incident_review(self, incident_id, margin=margin, changes_before=changes_before)

    @staticmethod
    def _actor(actor: str) -> str:
        return bounded_text(actor, "actor", MAX_NAME, error=IncidentError)


__all__ = [
    "LEVELS",
    "IncidentError",
    "IncidentListener",
    "IncidentNotFound",
    "IncidentService",
    "InvalidTransition",
]
