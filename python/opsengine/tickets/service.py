"""``engine.tickets``: the service desk. Tickets with their history, replies and notes,
attachment metadata, links to incidents and problems, SLA clocks and satisfaction surveys.

Every change is written with its history row in one transaction, and the ticket's SLA
columns are recomputed from the calendar in that same transaction (:mod:`.sla`), so the
stored due times always match the ticket. Reads recompute the clocks at the time of
reading. The service listens to the incident service: when a linked incident resolves,
its tickets get a public reply and are solved (unless the link says otherwise).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from opsengine.incidents.model import IncidentChange
from opsengine.store import Store
from opsengine.store.rows import bounded_text, dumps, fetch_dicts, query_dicts, utc
from opsengine.tickets.calendar import BusinessCalendar, CalendarError, Interval
from opsengine.tickets.csat import SurveySigner, load_key, new_nonce
from opsengine.tickets.model import (
    ESCALATION_LEVELS,
    OPEN_STATUSES,
    PRIORITIES,
    STATUSES,
    SurveyRefused,
    TicketError,
    TicketNotFound,
    check_transition,
)
from opsengine.tickets.sla import Clock, PolicyError, SlaPolicy, clocks

log = logging.getLogger(__name__)

MAX_SUBJECT = 500
MAX_BODY = 100_000
MAX_NAME = 200
MAX_TAGS = 50
MAX_ATTACHMENTS = 50
MAX_BULK = 1_000
MAX_LIST = 1_000
SURVEY_DAYS = 30
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Portable upsert (DuckDB and PostgreSQL): a queue names one policy.
_QUEUE_UPSERT = (
    "INSERT INTO ticket_queues VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
    "SET sla_policy = excluded.sla_policy, updated_at = excluded.updated_at"
)
UPDATABLE = ("assignee", "priority", "queue", "category", "tags", "sla_policy")


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str | None:
    return bounded_text(value, field, limit, required=required, error=TicketError)


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise TicketError(f"{field}: a name of letters, digits, '_', '.', '-' (at most 64)")
    return value


def _tags(values: Any, field: str = "tags") -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > MAX_TAGS:
        raise TicketError(f"{field}: a list of at most {MAX_TAGS} tags")
    return sorted({_text(v, f"{field}[{i}]", 64).lower() for i, v in enumerate(values)})


def _email(value: Any, field: str) -> str:
    text = _text(value, field, 320)
    if not _EMAIL.match(text):
        raise TicketError(f"{field}: not an e-mail address: {text!r}")
    return text.lower()


def _priority(value: Any, field: str = "priority") -> str:
    if value not in PRIORITIES:
        raise TicketError(f"{field}: must be one of {', '.join(PRIORITIES)}, got {value!r}")
    return value


def _attachments(values: Any) -> list[dict[str, Any]]:
    """Attachment metadata ``[{name, size, type, sha256}]`` (the bytes live elsewhere)."""
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > MAX_ATTACHMENTS:
        raise TicketError(f"attachments: a list of at most {MAX_ATTACHMENTS}")
    out = []
    for i, a in enumerate(values):
        where = f"attachments[{i}]"
        if not isinstance(a, dict):
            raise TicketError(f"{where}: expected {{name, size, type, sha256}}")
        size = a.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TicketError(f"{where}.size: a whole number of bytes")
        sha = a.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            raise TicketError(f"{where}.sha256: 64 hex digits")
        out.append(
            {
                "name": _text(a.get("name"), f"{where}.name", 255),
                "size": size,
                "type": _text(a.get("type") or "application/octet-stream", f"{where}.type", 255),
                "sha256": sha.lower(),
            }
        )
    return out


class TicketService:
    """Tickets in the store. ``incidents`` (optional) is the incident service that
    escalations open incidents in; ``alerts`` the alert log SLA warnings go to."""

    def __init__(
        self,
        store: Store,
        settings: Any = None,
        *,
        incidents: Any = None,
        problems: Any = None,
        alerts: Any = None,
        key_path: Path | None = None,
    ) -> None:
        from opsengine.config import TicketSettings

        self.store = store
        self.settings = settings or TicketSettings()
        self.incidents = incidents
        self.problems = problems
        self.alerts = alerts
        self.key_path = key_path or store.data_dir / "csat.key"
        self._signer: SurveySigner | None = None
        self.listener_errors = 0

    # == calendars, policies, queues =========================================
    def set_calendar(self, name: str, spec: dict[str, Any], *, at: datetime | None = None) -> dict:
        name = _name(name, "name")
        try:
            cal = BusinessCalendar.from_spec(name, spec)
        except CalendarError as e:
            raise TicketError(str(e)) from None
        now = utc(at, "at")
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT INTO calendars VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET spec = excluded.spec, updated_at = excluded.updated_at",
                [name, json.dumps(cal.to_spec()), now],
            )
            self._recompute_open(cur, now)
        return self.get_calendar(name)

    def get_calendar(self, name: str) -> dict[str, Any]:
        rows = query_dicts(self.store, "SELECT * FROM calendars WHERE name = ?", [name])
        if not rows:
            raise TicketNotFound(f"calendar {name!r}: no such calendar")
        return {"name": name, **json.loads(rows[0]["spec"]), "updated_at": rows[0]["updated_at"]}

    def list_calendars(self) -> list[dict[str, Any]]:
        rows = query_dicts(self.store, "SELECT name FROM calendars ORDER BY name")
        return [self.get_calendar(r["name"]) for r in rows]

    def calendar(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> BusinessCalendar:
        rows = self._rows(cur, "SELECT spec FROM calendars WHERE name = ?", [name])
        if not rows:
            raise TicketNotFound(f"calendar {name!r}: no such calendar")
        return BusinessCalendar.from_spec(name, json.loads(rows[0]["spec"]))

    def set_policy(
        self,
        name: str,
        spec: dict[str, Any],
        *,
        queues: list[str] | None = None,
        at: datetime | None = None,
    ) -> dict:
        """Define policy ``name``; ``queues`` are the queues that name it from now on."""
        name = _name(name, "name")
        try:
            policy = SlaPolicy.from_spec(name, spec)
        except PolicyError as e:
            raise TicketError(str(e)) from None
        queues = [_name(q, f"queues[{i}]") for i, q in enumerate(queues or [])]
        now = utc(at, "at")
        with self.store.transaction() as cur:
            if not fetch_dicts(cur, "SELECT 1 FROM calendars WHERE name = ?", [policy.calendar]):
                raise TicketNotFound(f"calendar: no calendar named {policy.calendar!r}")
            spec_out = policy.to_spec()
            cur.execute(
                "INSERT INTO sla_policies VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "calendar = excluded.calendar, targets = excluded.targets, "
                "updated_at = excluded.updated_at",
                [name, policy.calendar, json.dumps(spec_out["targets"]), now],
            )
            for q in queues:
                cur.execute(_QUEUE_UPSERT, [q, name, now])
            self._recompute_open(cur, now)
        return self.get_policy(name)

    def get_policy(self, name: str) -> dict[str, Any]:
        rows = query_dicts(self.store, "SELECT * FROM sla_policies WHERE name = ?", [name])
        if not rows:
            raise TicketNotFound(f"sla policy {name!r}: no such policy")
        queues = query_dicts(
            self.store, "SELECT name FROM ticket_queues WHERE sla_policy = ? ORDER BY name", [name]
        )
        r = rows[0]
        return {
            "name": name,
            "calendar": r["calendar"],
            "targets": json.loads(r["targets"]),
            "queues": [q["name"] for q in queues],
            "updated_at": r["updated_at"],
        }

    def list_policies(self) -> list[dict[str, Any]]:
        rows = query_dicts(self.store, "SELECT name FROM sla_policies ORDER BY name")
        return [self.get_policy(r["name"]) for r in rows]

    def policy(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> SlaPolicy:
        rows = self._rows(cur, "SELECT * FROM sla_policies WHERE name = ?", [name])
        if not rows:
            raise TicketNotFound(f"sla_policy: no policy named {name!r}")
        return SlaPolicy.from_spec(
            name, {"calendar": rows[0]["calendar"], "targets": json.loads(rows[0]["targets"])}
        )

    def set_queue(self, name: str, sla_policy: str | None, *, at: datetime | None = None) -> None:
        name = _name(name, "queue")
        now = utc(at, "at")
        with self.store.transaction() as cur:
            if sla_policy is not None:
                self.policy(sla_policy, cur)
            cur.execute(_QUEUE_UPSERT, [name, sla_policy, now])
            self._recompute_open(cur, now)

    # == tickets: writes ==================================================
    def create(
        self,
        *,
        subject: str,
        description: str,
        requester: dict[str, Any] | str,
        actor: str,
        priority: str = "P3",
        queue: str | None = None,
        sla_policy: str | None = None,
        category: str | None = None,
        tags: list[str] | None = None,
        assignee: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        created_at: datetime | None = None,
        source: str = "api",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open a ticket (``created_at`` in the past imports one from another desk)."""
        subject = _text(subject, "subject", MAX_SUBJECT)
        description = _text(description, "description", MAX_BODY)
        if isinstance(requester, str):
            requester = {"email": requester}
        if not isinstance(requester, dict):
            raise TicketError("requester: expected {name, email}")
        email = _email(requester.get("email"), "requester.email")
        rname = _text(requester.get("name"), "requester.name", MAX_NAME, required=False)
        priority = _priority(priority)
        queue = _name(queue or self.settings.default_queue, "queue")
        category = _text(category, "category", 64, required=False)
        assignee = _text(assignee, "assignee", MAX_NAME, required=False)
        tags = _tags(tags)
        files = _attachments(attachments)
        actor = _text(actor, "actor", MAX_NAME)
        now = utc(at, "at")
        created = utc(created_at, "created_at") if created_at is not None else now
        if created > now:
            raise TicketError("created_at: in the future")
        with self.store.transaction() as cur:
            if sla_policy is not None:
                self.policy(sla_policy, cur)
            ticket_id = self.store.next_id(cur, "tickets", 1)
            cur.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?,"
                " NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, false, false, false)",
                [ticket_id, subject, description, rname, email, category, priority, queue,
                 assignee, json.dumps(tags), sla_policy, source, actor, created, created],
            )  # fmt: skip
            self._history(cur, ticket_id, created, actor, "created",
                          {"subject": subject, "source": source, "priority": priority,
                           "queue": queue})  # fmt: skip
            if files:
                self._attach(cur, ticket_id, None, files, created)
            self._recompute(cur, ticket_id, now)
        return self.get(ticket_id, now=now)

    def reply(
        self,
        ticket_id: int,
        body: str,
        *,
        actor: str,
        public: bool = True,
        via: str = "api",
        from_requester: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A public reply or an internal note. The first public reply by staff is the first
        response (and opens a new ticket); a requester's reply reopens a pending one."""
        body = _text(body, "body", MAX_BODY)
        if not isinstance(public, bool):
            raise TicketError("public: true or false")
        actor = _text(actor, "actor", MAX_NAME)
        files = _attachments(attachments)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            t = self._load(cur, ticket_id)
            if t["status"] == "closed":
                raise TicketError(f"status: ticket {ticket_id} is closed; open a new ticket")
            comment_id = self._comment(cur, ticket_id, now, actor, public, body, via)
            if files:
                self._attach(cur, ticket_id, comment_id, files, now)
            kind = "reply" if public else "note"
            self._history(cur, ticket_id, now, actor, kind, {"comment": comment_id, "via": via})
            if from_requester:
                if t["status"] in ("pending", "solved"):
                    self._set_status(cur, t, "open", now, actor, reason="requester replied")
            elif public:
                if t["first_response_at"] is None:
                    cur.execute(
                        "UPDATE tickets SET first_response_at = ? WHERE id = ?", [now, ticket_id]
                    )
                if t["status"] == "new":
                    self._set_status(cur, t, "open", now, actor, reason="first response")
            cur.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", [now, ticket_id])
            self._recompute(cur, ticket_id, now)
        return self.comment(comment_id)

    def set_status(
        self, ticket_id: int, status: str, *, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        actor = _text(actor, "actor", MAX_NAME)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            t = self._load(cur, ticket_id)
            check_transition(ticket_id, t["status"], status)
            self._set_status(cur, t, status, now, actor)
            self._recompute(cur, ticket_id, now)
        return self.get(ticket_id, now=now)

    def update(
        self, ticket_id: int, changes: dict[str, Any], *, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """Change assignee, priority, queue, category, tags or sla_policy (None clears)."""
        actor = _text(actor, "actor", MAX_NAME)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            self._update(cur, ticket_id, self._check_changes(cur, changes), actor, now)
            self._recompute(cur, ticket_id, now)
        return self.get(ticket_id, now=now)

    def _check_changes(self, cur, changes: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, dict) or not changes:
            raise TicketError(f"body: nothing to change (give any of {', '.join(UPDATABLE)})")
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "priority":
                out[key] = _priority(value)
            elif key == "queue":
                out[key] = _name(value, "queue")
            elif key in ("assignee", "category"):
                out[key] = _text(value, key, MAX_NAME, required=False)
            elif key == "tags":
                out[key] = json.dumps(_tags(value))
            elif key == "sla_policy":
                if value is not None:
                    self.policy(value, cur)
                out[key] = value
            else:
                raise TicketError(
                    f"{key}: not a field that can be changed ({', '.join(UPDATABLE)})"
                )
        return out

    def _update(self, cur, ticket_id: int, changes: dict[str, Any], actor: str, now) -> None:
        t = self._load(cur, ticket_id)
        diff = {k: v for k, v in changes.items() if t[k] != v}
        if not diff:
            return
        sets = ", ".join(f"{k} = ?" for k in diff)  # keys from UPDATABLE only
        cur.execute(
            f"UPDATE tickets SET {sets}, updated_at = ? WHERE id = ?",
            [*diff.values(), now, ticket_id],
        )
        for k, v in diff.items():
            self._history(cur, ticket_id, now, actor, "field", {"field": k, "from": t[k], "to": v})

    def bulk_update(
        self,
        ids: Sequence[int],
        *,
        actor: str,
        changes: dict[str, Any] | None = None,
        status: str | None = None,
        at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Apply the same changes (and status) to many tickets: all of them or none."""
        if not isinstance(ids, list | tuple) or not 1 <= len(ids) <= MAX_BULK:
            raise TicketError(f"ids: a list of 1..{MAX_BULK} ticket ids")
        if changes is None and status is None:
            raise TicketError("changes: give changes, a status, or both")
        actor = _text(actor, "actor", MAX_NAME)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            checked = self._check_changes(cur, changes) if changes else {}
            for i, ticket_id in enumerate(dict.fromkeys(ids)):
                try:
                    if checked:
                        self._update(cur, ticket_id, checked, actor, now)
                    if status is not None:
                        t = self._load(cur, ticket_id)
                        check_transition(ticket_id, t["status"], status)
                        self._set_status(cur, t, status, now, actor)
                except TicketError as e:
                    raise type(e)(f"ids[{i}]: {e}") from None
                self._recompute(cur, ticket_id, now)
        return [self.get(t, now=now) for t in dict.fromkeys(ids)]

    def merge(
        self, ticket_id: int, into: int, *, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """Merge duplicate ``ticket_id`` into ``into``: its replies, notes, attachments and
        links move over; it is closed and points at ``into``."""
        actor = _text(actor, "actor", MAX_NAME)
        if ticket_id == into:
            raise TicketError("into: a ticket cannot be merged into itself")
        now = utc(at, "at")
        with self.store.transaction() as cur:
            src = self._load(cur, ticket_id)
            dst = self._load(cur, into)
            if src["status"] == "closed":
                raise TicketError(f"status: ticket {ticket_id} is closed already")
            if dst["status"] == "closed":
                raise TicketError(f"into: ticket {into} is closed")
            cur.execute("UPDATE ticket_comments SET ticket_id = ? WHERE ticket_id = ?",
                        [into, ticket_id])  # fmt: skip
            cur.execute("UPDATE ticket_attachments SET ticket_id = ? WHERE ticket_id = ?",
                        [into, ticket_id])  # fmt: skip
            cur.execute(
                "INSERT INTO ticket_links SELECT ?, kind, ref_id, auto_solve, linked_by,"
                " linked_at FROM ticket_links WHERE ticket_id = ? ON CONFLICT DO NOTHING",
                [into, ticket_id],
            )
            cur.execute("DELETE FROM ticket_links WHERE ticket_id = ?", [ticket_id])
            note = f"Merged from ticket #{ticket_id}: {src['subject']}\n\n{src['description']}"
            self._comment(cur, into, now, actor, False, note, "system")
            cur.execute(
                "UPDATE tickets SET status = 'closed', closed_at = ?, merged_into = ?, "
                "updated_at = ? WHERE id = ?",
                [now, into, now, ticket_id],
            )
            self._history(cur, ticket_id, now, actor, "merge", {"into": into})
            self._history(cur, into, now, actor, "merge", {"from": ticket_id})
            self._recompute(cur, ticket_id, now)
            self._recompute(cur, into, now)
        return self.get(into, now=now)

    def link(
        self,
        ticket_id: int,
        *,
        actor: str,
        incident_id: int | None = None,
        problem_id: int | None = None,
        auto_solve: bool = True,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Link an incident (solved with it unless ``auto_solve`` is false) or a problem."""
        actor = _text(actor, "actor", MAX_NAME)
        if (incident_id is None) == (problem_id is None):
            raise TicketError("incident_id: give exactly one of incident_id or problem_id")
        kind, ref = (
            ("incident", incident_id) if incident_id is not None else ("problem", problem_id)
        )
        if isinstance(ref, bool) or not isinstance(ref, int):
            raise TicketError(f"{kind}_id: a whole number")
        self._check_ref(kind, ref)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            self._load(cur, ticket_id)
            self._link(cur, ticket_id, kind, ref, bool(auto_solve), actor, now)
        return self.get(ticket_id, now=now)

    def _check_ref(self, kind: str, ref: int) -> None:
        try:
            if kind == "incident" and self.incidents is not None:
                self.incidents.row(ref)
            elif kind == "problem" and self.problems is not None:
                self.problems.get_problem(ref)
        except (ValueError, LookupError):
            raise TicketNotFound(f"{kind}_id: no {kind} {ref}") from None

    def _link(self, cur, ticket_id, kind, ref, auto_solve, actor, now) -> None:
        cur.execute(
            "INSERT INTO ticket_links VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, kind, ref_id) "
            "DO UPDATE SET auto_solve = excluded.auto_solve, linked_by = excluded.linked_by, "
            "linked_at = excluded.linked_at",
            [ticket_id, kind, ref, auto_solve, actor, now],
        )
        self._history(cur, ticket_id, now, actor, "link",
                      {"kind": kind, "id": ref, "auto_solve": auto_solve})  # fmt: skip

    def escalate(self, ticket_id: int, *, actor: str, at: datetime | None = None) -> dict[str, Any]:
        """Open an incident from the ticket (impact and urgency from its priority) and link
        them; the ticket is solved with the incident. Returns the ticket."""
        if self.incidents is None:
            raise TicketError("escalate: this desk has no incident service")
        actor = _text(actor, "actor", MAX_NAME)
        t = self.get(ticket_id)
        if t["status"] == "closed":
            raise TicketError(f"status: ticket {ticket_id} is closed")
        existing = [ln for ln in t["links"] if ln["kind"] == "incident"]
        if existing:
            raise TicketError(
                f"incident_id: ticket {ticket_id} is already linked to incident {existing[0]['id']}"
            )
        impact, urgency = ESCALATION_LEVELS[t["priority"]]
        now = utc(at, "at")
        incident_id = self.incidents.create(
            f"Ticket #{ticket_id}: {t['subject']}"[:500],
            actor=actor,
            impact=impact,
            urgency=urgency,
            service=t["queue"],
            labels={"ticket": str(ticket_id), "queue": t["queue"]},
            at=now,
        )
        with self.store.transaction() as cur:
            self._link(cur, ticket_id, "incident", incident_id, True, actor, now)
            self._history(cur, ticket_id, now, actor, "escalated", {"incident": incident_id})
            t2 = self._load(cur, ticket_id)
            if t2["status"] == "new":
                self._set_status(cur, t2, "open", now, actor, reason="escalated")
            self._recompute(cur, ticket_id, now)
        return self.get(ticket_id, now=now)

    def close_solved(self, now: datetime | None = None) -> list[int]:
        """Close the tickets solved more than ``[tickets] close_solved_after_days`` ago
        (a requester's reply reopens a solved ticket, not a closed one); returns their ids."""
        days = self.settings.close_solved_after_days
        if days <= 0:
            return []
        now = utc(now, "now")
        rows = query_dicts(
            self.store,
            "SELECT id FROM tickets WHERE status = 'solved' AND solved_at <= ? ORDER BY id",
            [now - timedelta(days=days)],
        )
        for r in rows:
            with self.store.transaction() as cur:
                t = self._load(cur, r["id"])
                if t["status"] == "solved":
                    self._set_status(cur, t, "closed", now, "system",
                                     reason=f"solved for {days} days")  # fmt: skip
        return [r["id"] for r in rows]

    # == incidents in =====================================================
    def on_incident_changes(self, changes: list[IncidentChange]) -> None:
        """Solve the tickets linked (with auto_solve) to incidents that resolved."""
        for change in changes:
            if change.kind != "resolved":
                continue
            try:
                self._incident_resolved(change.incident_id, change.ts)
            except Exception:  # one incident's fault must not skip the others
                self.listener_errors += 1
                log.exception("solving tickets of incident %s failed", change.incident_id)

    def _incident_resolved(self, incident_id: int, ts: datetime) -> None:
        rows = query_dicts(
            self.store,
            "SELECT t.id FROM ticket_links l JOIN tickets t ON t.id = l.ticket_id "
            "WHERE l.kind = 'incident' AND l.ref_id = ? AND l.auto_solve "
            "AND t.status IN ('new', 'open', 'pending') ORDER BY t.id",
            [incident_id],
        )
        title = ""
        if self.incidents is not None:
            try:
                title = self.incidents.row(incident_id)["title"]
            except (ValueError, LookupError):
                title = ""
        body = self.settings.incident_reply.format(incident=incident_id, title=title)
        for r in rows:
            with self.store.transaction() as cur:
                t = self._load(cur, r["id"])
                if t["status"] not in OPEN_STATUSES:
                    continue
                cid = self._comment(cur, t["id"], ts, "system", True, body, "system")
                self._history(cur, t["id"], ts, "system", "reply",
                              {"comment": cid, "incident": incident_id})  # fmt: skip
                self._set_status(cur, t, "solved", ts, "system",
                                 reason=f"incident {incident_id} resolved")  # fmt: skip
                self._recompute(cur, t["id"], ts)

    # == internals: writes ================================================
    def _set_status(self, cur, t: dict, wanted: str, now, actor: str, *, reason=None) -> None:
        sets, params = ["status = ?", "updated_at = ?"], [wanted, now]
        if wanted == "solved":
            sets.append("solved_at = ?")
            params.append(now)
        elif wanted == "closed":
            sets.append("closed_at = ?")
            params.append(now)
        elif t["status"] == "solved" and wanted == "open":
            sets.append("solved_at = NULL, reopened = reopened + 1")
        cur.execute(f"UPDATE tickets SET {', '.join(sets)} WHERE id = ?", [*params, t["id"]])
        detail = {"from": t["status"], "to": wanted}
        if reason:
            detail["reason"] = reason
        self._history(cur, t["id"], now, actor, "status", detail)
        if wanted == "solved":
            self._request_survey(cur, t, now)
        t["status"] = wanted

    def _comment(self, cur, ticket_id, ts, author, public, body, via) -> int:
        comment_id = self.store.next_id(cur, "ticket_comments", 1)
        cur.execute(
            "INSERT INTO ticket_comments VALUES (?, ?, ?, ?, ?, ?, ?)",
            [comment_id, ticket_id, ts, author, public, body, via],
        )
        return comment_id

    def _attach(self, cur, ticket_id, comment_id, files, ts) -> None:
        first = self.store.next_id(cur, "ticket_attachments", len(files))
        for i, f in enumerate(files):
            cur.execute(
                "INSERT INTO ticket_attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [first + i, ticket_id, comment_id, f["name"], f["size"], f["type"],
                 f["sha256"], ts],
            )  # fmt: skip

    def _history(self, cur, ticket_id, ts, actor, kind, detail=None) -> None:
        event_id = self.store.next_id(cur, "ticket_history", 1)
        cur.execute(
            "INSERT INTO ticket_history VALUES (?, ?, ?, ?, ?, ?)",
            [event_id, ticket_id, ts, actor, kind, dumps(detail) if detail else None],
        )

    def _load(self, cur, ticket_id: int) -> dict[str, Any]:
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
            raise TicketError(f"id: a ticket id is a whole number, got {ticket_id!r}")
        rows = fetch_dicts(cur, "SELECT * FROM tickets WHERE id = ?", [ticket_id])
        if not rows:
            raise TicketNotFound(f"ticket {ticket_id}: no such ticket")
        return rows[0]

    def _rows(self, cur, sql: str, params: list) -> list[dict[str, Any]]:
        return (
            fetch_dicts(cur, sql, params)
            if cur is not None
            else query_dicts(self.store, sql, params)
        )

    # == SLA ===============================================================
    def _policy_name(self, cur, t: dict, cache: dict) -> str | None:
        if t["sla_policy"]:
            return t["sla_policy"]
        key = ("queue", t["queue"])
        if key not in cache:
            rows = self._rows(cur, "SELECT sla_policy FROM ticket_queues WHERE name = ?",
                              [t["queue"]])  # fmt: skip
            cache[key] = rows[0]["sla_policy"] if rows else None
        return cache[key] or self.settings.default_sla_policy or None

    def pause_periods(self, cur, ticket_ids: list[int]) -> dict[int, tuple[list[Interval], Any]]:
        """Per ticket: its finished pending periods and the start of the current one, from
        the history (one query for all of ``ticket_ids``)."""
        out: dict[int, tuple[list[Interval], Any]] = {t: ([], None) for t in ticket_ids}
        if not ticket_ids:
            return out
        rows = self._rows(
            cur,
            "SELECT ticket_id, ts, detail FROM ticket_history WHERE kind = 'status' AND "
            f"ticket_id IN ({', '.join('?' * len(ticket_ids))}) ORDER BY ticket_id, ts, id",
            list(ticket_ids),
        )  # only '?' placeholders are formatted in
        for r in rows:
            pauses, since = out[r["ticket_id"]]
            d = json.loads(r["detail"])
            if d["to"] == "pending" and since is None:
                since = r["ts"]
            elif d["from"] == "pending" and since is not None:
                if r["ts"] > since:
                    pauses.append((since, r["ts"]))
                since = None
            out[r["ticket_id"]] = (pauses, since)
        return out

    def sla_basis(self, t: dict, cur=None, cache: dict | None = None, pauses=None):
        """(policy name, policy, calendar, finished pauses, pending since) for ticket row
        ``t``, or None when no usable policy applies. ``cache`` keeps policies, calendars
        and queues between tickets; ``pauses`` is :meth:`pause_periods`' answer when prefetched."""
        cache = {} if cache is None else cache
        name = self._policy_name(cur, t, cache)
        if name is None:
            return None
        try:
            if ("policy", name) not in cache:
                cache[("policy", name)] = self.policy(name, cur)
            policy = cache[("policy", name)]
            if ("calendar", policy.calendar) not in cache:
                cache[("calendar", policy.calendar)] = self.calendar(policy.calendar, cur)
            calendar = cache[("calendar", policy.calendar)]
        except (TicketNotFound, CalendarError, PolicyError):
            return None
        done, since = (pauses or self.pause_periods(cur, [t["id"]]))[t["id"]]
        return name, policy, calendar, done, since

    def clocks(
        self, t: dict, now: datetime, cur=None, cache: dict | None = None, pauses=None
    ) -> tuple[str | None, dict[str, Clock]]:
        """The policy in force for ticket row ``t`` and its clocks at ``now``."""
        basis = self.sla_basis(t, cur, cache, pauses)
        if basis is None:
            return None, {}
        name, policy, calendar, done, since = basis
        # A closed ticket counts to its close only if it was never solved (merged ones).
        solved = t["solved_at"] or (t["closed_at"] if t["status"] == "closed" else None)
        return name, clocks(
            policy, calendar, priority=t["priority"], created_at=t["created_at"],
            pauses=done, paused_since=since if t["status"] == "pending" else None,
            first_response_at=t["first_response_at"], solved_at=solved, now=now,
        )  # fmt: skip

    def _recompute(self, cur, ticket_id: int, now: datetime) -> None:
        t = self._load(cur, ticket_id)
        name, c = self.clocks(t, now, cur)
        fr, res = c.get("first_response"), c.get("resolution")
        cur.execute(
            "UPDATE tickets SET sla_applied = ?, first_response_due = ?, resolution_due = ?, "
            "first_response_breached = ?, resolution_breached = ?, sla_paused = ? WHERE id = ?",
            [name, fr.due if fr else None, res.due if res else None,
             bool(fr and fr.breached), bool(res and res.breached),
             any(x.paused for x in c.values()), ticket_id],
        )  # fmt: skip

    def _recompute_open(self, cur, now: datetime) -> None:
        """A calendar, policy or queue changed: every unfinished ticket's clocks move."""
        for r in fetch_dicts(
            cur, "SELECT id FROM tickets WHERE status IN ('new','open','pending')"
        ):
            self._recompute(cur, r["id"], now)

    @staticmethod
    def sla_view(policy: str | None, c: dict[str, Clock]) -> dict[str, Any]:
        fr, res = c.get("first_response"), c.get("resolution")
        return {
            "policy": policy,
            "first_response_due": fr.due if fr else None,
            "resolution_due": res.due if res else None,
            "first_response_breached": bool(fr and fr.breached),
            "resolution_breached": bool(res and res.breached),
            "paused": any(x.paused for x in c.values()),
            "first_response_remaining_s": None if fr is None or fr.met_at else fr.remaining,
            "resolution_remaining_s": None if res is None or res.met_at else res.remaining,
        }

    # == reads =============================================================
    def get(self, ticket_id: int, *, now: datetime | None = None) -> dict[str, Any]:
        now = utc(now, "now")
        cur = self.store.cursor()
        try:
            t = self._load(cur, ticket_id)
            out = self._shape(t, now, cur)
            out["links"] = [
                {"kind": r["kind"], "id": r["ref_id"], "auto_solve": r["auto_solve"],
                 "linked_by": r["linked_by"], "linked_at": r["linked_at"]}
                for r in fetch_dicts(cur, "SELECT * FROM ticket_links WHERE ticket_id = ? "
                                     "ORDER BY linked_at, kind, ref_id", [ticket_id])
            ]  # fmt: skip
            out["comments"] = self._comments(cur, "ticket_id = ?", [ticket_id])
            out["attachments"] = fetch_dicts(
                cur,
                "SELECT id, comment_id, name, size, content_type AS type, sha256, created_at "
                "FROM ticket_attachments WHERE ticket_id = ? ORDER BY id",
                [ticket_id],
            )
            survey = fetch_dicts(
                cur, "SELECT rating, comment, requested_at, answered_at FROM csat_surveys "
                "WHERE ticket_id = ?", [ticket_id])  # fmt: skip
            out["csat"] = survey[0] if survey else None
            return out
        finally:
            cur.close()

    def _shape(self, t: dict, now: datetime, cur, cache=None, pauses=None) -> dict[str, Any]:
        name, c = self.clocks(t, now, cur, cache, pauses)
        out = {k: v for k, v in t.items() if not k.startswith(("first_response_due",
               "resolution_due", "first_response_breached", "resolution_breached",
               "sla_paused", "sla_applied", "requester_"))}  # fmt: skip
        out["requester"] = {"name": t["requester_name"], "email": t["requester_email"]}
        out["tags"] = json.loads(t["tags"])
        out["sla"] = self.sla_view(name, c)
        return out

    def _comments(self, cur, where: str, params: list) -> list[dict[str, Any]]:
        return fetch_dicts(
            cur,
            f"SELECT id, ticket_id, ts, author, public, body, via FROM ticket_comments "
            f"WHERE {where} ORDER BY ts, id",
            params,
        )

    def comment(self, comment_id: int) -> dict[str, Any]:
        cur = self.store.cursor()
        try:
            rows = self._comments(cur, "id = ?", [comment_id])
            rows[0]["attachments"] = fetch_dicts(
                cur, "SELECT name, size, content_type AS type, sha256 FROM ticket_attachments "
                "WHERE comment_id = ? ORDER BY id", [comment_id])  # fmt: skip
            return rows[0]
        finally:
            cur.close()

    def history(self, ticket_id: int) -> list[dict[str, Any]]:
        cur = self.store.cursor()
        try:
            self._load(cur, ticket_id)
            rows = fetch_dicts(
                cur, "SELECT ts, actor, kind, detail FROM ticket_history WHERE ticket_id = ? "
                "ORDER BY ts, id", [ticket_id])  # fmt: skip
        finally:
            cur.close()
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
        return rows

    def list(
        self,
        *,
        q: str | None = None,
        requester: str | None = None,
        status: str | Iterable[str] | None = None,
        queue: str | None = None,
        tag: str | None = None,
        assignee: str | None = None,
        before: int | None = None,
        limit: int = 100,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Tickets newest first (by id); filters combine with AND. ``q`` matches words of
        subject, description and replies (all words, any order, case-insensitive);
        ``requester`` an e-mail address or a part of the name; ``status`` may be ``open``
        for every unfinished status."""
        where, params = [], []
        if status is not None:
            states = [status] if isinstance(status, str) else list(status)
            if status == "unsolved":
                states = list(OPEN_STATUSES)
            bad = [s for s in states if s not in STATUSES]
            if bad:
                raise TicketError(
                    f"status: must be one of unsolved, {', '.join(STATUSES)}, got {bad[0]!r}"
                )
            where.append(f"status IN ({', '.join('?' * len(states))})")
            params += states
        if requester:
            where.append("(requester_email = lower(?) OR lower(requester_name) LIKE ? ESCAPE '!')")
            params += [requester, f"%{_like(requester.lower())}%"]
        if queue:
            where.append("queue = ?")
            params.append(queue)
        if assignee:
            where.append("assignee = ?")
            params.append(assignee)
        if tag:
            where.append("tags LIKE ? ESCAPE '!'")
            params.append(f'%"{_like(tag.lower())}"%')
        for word in (q or "").lower().split()[:10]:
            pattern = f"%{_like(word)}%"
            where.append(
                "(lower(subject) LIKE ? ESCAPE '!' OR lower(description) LIKE ? ESCAPE '!' OR "
                "EXISTS (SELECT 1 FROM ticket_comments c WHERE c.ticket_id = tickets.id "
                "AND lower(c.body) LIKE ? ESCAPE '!'))"
            )
            params += [pattern, pattern, pattern]
        if before is not None:
            where.append("id < ?")
            params.append(before)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST + 1:
            raise TicketError(f"limit: 1..{MAX_LIST}, got {limit!r}")
        sql = "SELECT * FROM tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        now = utc(now, "now")
        cur = self.store.cursor()
        try:
            rows = fetch_dicts(cur, sql, [*params, limit])
            cache: dict = {}
            pauses = self.pause_periods(cur, [t["id"] for t in rows])
            return [self._shape(t, now, cur, cache, pauses) for t in rows]
        finally:
            cur.close()

    # == satisfaction =====================================================
    @property
    def signer(self) -> SurveySigner:
        if self._signer is None:
            self._signer = SurveySigner(load_key(self.key_path))
        return self._signer

    def _request_survey(self, cur, t: dict, now: datetime) -> None:
        """A solved ticket asks its requester once: a survey row with a fresh nonce (a
        reopened and re-solved ticket that was not rated gets a new link)."""
        done = fetch_dicts(cur, "SELECT answered_at FROM csat_surveys WHERE ticket_id = ?",
                           [t["id"]])  # fmt: skip
        if done and done[0]["answered_at"] is not None:
            return
        cur.execute(
            "INSERT INTO csat_surveys VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL) "
            "ON CONFLICT (ticket_id) DO UPDATE SET nonce = excluded.nonce, queue = excluded.queue, "
            "requested_at = excluded.requested_at, expires_at = excluded.expires_at",
            [t["id"], new_nonce(), t["queue"], now, now + timedelta(days=SURVEY_DAYS)],
        )

    def survey_token(self, ticket_id: int) -> str:
        """The signed link token of the ticket's open survey (to send to the requester)."""
        rows = query_dicts(self.store, "SELECT * FROM csat_surveys WHERE ticket_id = ?",
                           [ticket_id])  # fmt: skip
        if not rows:
            raise TicketNotFound(f"ticket {ticket_id}: no survey (the ticket was never solved)")
        if rows[0]["answered_at"] is not None:
            raise SurveyRefused(f"ticket {ticket_id}: the survey was answered already")
        return self.signer.token(ticket_id, rows[0]["nonce"], rows[0]["expires_at"])

    def answer_survey(
        self, token: str, rating: Any, comment: str | None = None, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Record the requester's rating (1–5) and comment; a token works once."""
        now = utc(at, "at")
        ticket_id, nonce = self.signer.verify(token, now)
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise TicketError(f"rating: a whole number from 1 to 5, got {rating!r}")
        comment = _text(comment, "comment", 5_000, required=False)
        with self.store.transaction() as cur:
            rows = fetch_dicts(
                cur, "SELECT * FROM csat_surveys WHERE ticket_id = ? AND nonce = ?",
                [ticket_id, nonce])  # fmt: skip
            if not rows:
                raise SurveyRefused("token: this survey link is no longer valid")
            if rows[0]["answered_at"] is not None:
                raise SurveyRefused("token: this survey was answered already")
            cur.execute(
                "UPDATE csat_surveys SET rating = ?, comment = ?, answered_at = ? "
                "WHERE ticket_id = ?",
                [rating, comment, now, ticket_id],
            )
            self._history(cur, ticket_id, now, "requester", "csat", {"rating": rating})
        return {"ticket_id": ticket_id, "rating": rating, "comment": comment, "answered_at": now}


def _like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
