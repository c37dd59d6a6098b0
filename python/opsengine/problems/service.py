"""``engine.problems``: problem records behind incidents, and the known-error database.

A problem links incidents and carries root cause, workaround and permanent fix; its
state moves proposed → open → known_error → resolved → closed (any forward step, and
back to open). A known error records symptoms, workaround and resolution and names the
rules and alert fingerprints it covers.

It listens to the incident service. When an incident opens:

* a known error naming its fingerprint (or, failing that, its rule) is attached to it;
* if its fingerprint opened ``recurrence_count`` incidents within ``recurrence_days``
  (event time), a problem is proposed linking them — or, when an unresolved problem for
  that fingerprint exists, the incident is linked to it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import duckdb

from opsengine.config import IncidentSettings
from opsengine.incidents.model import IncidentChange
from opsengine.incidents.retention import RetentionHook
from opsengine.incidents.service import IncidentService
from opsengine.store import Store
from opsengine.store.rows import bounded_text, query_dicts, utc

log = logging.getLogger(__name__)

PROBLEM_STATES = ("proposed", "open", "known_error", "resolved", "closed")
MAX_TEXT = 20_000
MAX_REFS = 200
MAX_RECURRING = 1_000  # incidents of one fingerprint linked to a proposed problem


class ProblemError(ValueError):
    """Bad input for a problem or known error; the message names the field; nothing changed."""


class ProblemService:
    def __init__(
        self,
        store: Store,
        incidents: IncidentService,
        settings: IncidentSettings | None = None,
    ) -> None:
        self.store = store
        self.incidents = incidents
        # Incidents a problem links stay whatever their age: the problem record needs them.
        incidents.add_retention_hook(
            "problems", RetentionHook(held=self.linked_incidents, forget=_nothing_to_forget)
        )
        self.settings = settings or IncidentSettings()
        self.errors = 0  # opened incidents whose known-error/recurrence check failed (logged)

    # -- problems -------------------------------------------------------------
    def create_problem(
        self,
        title: str,
        *,
        actor: str,
        root_cause: str | None = None,
        workaround: str | None = None,
        permanent_fix: str | None = None,
        incident_ids: list[int] | None = None,
        at: datetime | None = None,
    ) -> int:
        title = _text(title, "title", 500)
        actor = _text(actor, "actor", 128)
        fields = _optional(
            root_cause=root_cause, workaround=workaround, permanent_fix=permanent_fix
        )
        now = utc(at, "at")
        for incident_id in incident_ids or []:
            self.incidents.get(incident_id)  # unknown ids fail before anything is written
        with self.store.transaction() as cur:
            problem_id = self._insert_problem(cur, title, "open", None, actor, now, fields)
            for incident_id in incident_ids or []:
                self._link(cur, problem_id, incident_id, actor, now)
        for incident_id in incident_ids or []:
            self.incidents.record(incident_id, now, "problem", {"linked": problem_id})
        return problem_id

    def _insert_problem(self, cur, title, state, fingerprint, actor, now, fields) -> int:
        problem_id = self.store.next_id(cur, "problems", 1)
        cur.execute(
            "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [problem_id, title, state, fingerprint, fields.get("root_cause"),
             fields.get("workaround"), fields.get("permanent_fix"), actor, now, now],
        )  # fmt: skip
        return problem_id

    def _link(self, cur, problem_id: int, incident_id: int, actor: str, now: datetime) -> None:
        cur.execute(
            "INSERT OR IGNORE INTO problem_incidents VALUES (?, ?, ?, ?)",
            [problem_id, incident_id, actor, now],
        )

    def update_problem(
        self,
        problem_id: int,
        *,
        actor: str,
        state: str | None = None,
        title: str | None = None,
        root_cause: str | None = None,
        workaround: str | None = None,
        permanent_fix: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        _text(actor, "actor", 128)
        current = self.get_problem(problem_id)
        changes = _optional(
            root_cause=root_cause, workaround=workaround, permanent_fix=permanent_fix
        )
        if title is not None:
            changes["title"] = _text(title, "title", 500)
        if state is not None:
            if state not in PROBLEM_STATES:
                raise ProblemError(
                    f"state must be one of {', '.join(PROBLEM_STATES)}, got {state!r}"
                )
            old = PROBLEM_STATES.index(current["state"])
            if PROBLEM_STATES.index(state) < old and state != "open":
                raise ProblemError(
                    f"problem {problem_id}: cannot move from {current['state']} back to {state}"
                )
            changes["state"] = state
        if not changes:
            return current
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self.store.transaction() as cur:
            cur.execute(
                f"UPDATE problems SET {sets}, updated_at = ? WHERE id = ?",
                [*changes.values(), utc(at, "at"), problem_id],
            )
        return self.get_problem(problem_id)

    def link_incident(
        self, problem_id: int, incident_id: int, *, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        actor = _text(actor, "actor", 128)
        self.get_problem(problem_id)
        self.incidents.get(incident_id)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            self._link(cur, problem_id, incident_id, actor, now)
        self.incidents.record(incident_id, now, "problem", {"linked": problem_id, "by": actor})
        return self.get_problem(problem_id)

    def get_problem(self, problem_id: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM problems WHERE id = ?", [problem_id])
        if not rows:
            raise ProblemError(f"problem {problem_id}: no such problem")
        problem = rows[0]
        problem["incidents"] = [
            r["incident_id"]
            for r in self._rows(
                "SELECT incident_id FROM problem_incidents WHERE problem_id = ? ORDER BY incident_id",
                [problem_id],
            )
        ]
        return problem

    def list_problems(self, *, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in PROBLEM_STATES:
            raise ProblemError(f"state must be one of {', '.join(PROBLEM_STATES)}, got {state!r}")
        sql = (
            "SELECT p.*, count(pi.incident_id) AS incident_count FROM problems p "
            "LEFT JOIN problem_incidents pi ON pi.problem_id = p.id"
        )
        params: list[Any] = []
        if state is not None:
            sql += " WHERE p.state = ?"
            params.append(state)
        return self._rows(sql + " GROUP BY ALL ORDER BY p.id", params)

    # -- known errors --------------------------------------------------------------
    def create_known_error(
        self,
        title: str,
        *,
        symptoms: str,
        actor: str,
        workaround: str | None = None,
        resolution: str | None = None,
        rules: list[str] | None = None,
        fingerprints: list[str] | None = None,
        problem_id: int | None = None,
        at: datetime | None = None,
    ) -> int:
        title = _text(title, "title", 500)
        symptoms = _text(symptoms, "symptoms", MAX_TEXT)
        actor = _text(actor, "actor", 128)
        fields = _optional(workaround=workaround, resolution=resolution)
        rules = _names(rules, "rules")
        fingerprints = _names(fingerprints, "fingerprints")
        if not rules and not fingerprints:
            raise ProblemError("a known error must name at least one rule or fingerprint")
        if problem_id is not None:
            self.get_problem(problem_id)
        with self.store.transaction() as cur:
            ke_id = self.store.next_id(cur, "known_errors", 1)
            cur.execute(
                "INSERT INTO known_errors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ke_id, title, symptoms, fields.get("workaround"), fields.get("resolution"),
                 json.dumps(rules), json.dumps(fingerprints), problem_id, actor, utc(at, "at")],
            )  # fmt: skip
        return ke_id

    def get_known_error(self, ke_id: int) -> dict[str, Any]:
        rows = self._known_errors("WHERE id = ?", [ke_id])
        if not rows:
            raise ProblemError(f"known error {ke_id}: no such known error")
        return rows[0]

    def list_known_errors(self) -> list[dict[str, Any]]:
        return self._known_errors("", [])

    def match_known_error(
        self, rule: str, fingerprint: str, candidates: list[dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        """The known error for an alert: one naming its fingerprint first, else its rule."""
        if candidates is None:
            candidates = self.list_known_errors()
        for ke in candidates:
            if fingerprint in ke["fingerprints"]:
                return ke
        return next((ke for ke in candidates if rule in ke["rules"]), None)

    def describe_known_error(self, ke_id: int) -> dict[str, Any] | None:
        try:
            ke = self.get_known_error(ke_id)
        except ProblemError:
            return None
        return {k: ke[k] for k in ("id", "title", "workaround", "resolution")}

    def _known_errors(self, where: str, params: list) -> list[dict[str, Any]]:
        rows = self._rows(f"SELECT * FROM known_errors {where} ORDER BY id", params)
        for r in rows:
            r["rules"] = json.loads(r["rules"])
            r["fingerprints"] = json.loads(r["fingerprints"])
        return rows

    # -- incidents in -------------------------------------------------------------
    def on_incident_changes(self, changes: list[IncidentChange]) -> None:
        opened = [c for c in changes if c.kind == "opened"]
        known_errors = self.list_known_errors() if opened else []  # once per batch
        for change in opened:
            try:
                self._on_opened(change, known_errors)
            except Exception:  # one incident's fault must not skip the others
                self.errors += 1
                log.exception("problem checks for incident %s failed", change.incident_id)

    def _on_opened(self, change: IncidentChange, known_errors: list[dict[str, Any]]) -> None:
        inc = self.incidents.row(change.incident_id)
        ke = self.match_known_error(inc["rule"], inc["fingerprint"], known_errors)
        if ke is not None:
            self.incidents.attach_known_error(inc["id"], ke["id"], ke["title"], change.ts)
        if inc["rule"] == "manual":
            return
        self.check_recurrence(inc, change.ts)

    def check_recurrence(self, inc: dict[str, Any], at: datetime) -> int | None:
        """Propose (or extend) a problem when the incident's fingerprint keeps recurring."""
        since = at - timedelta(days=self.settings.recurrence_days)
        # Read and write in one transaction (under the store's write lock): two threads
        # opening incidents of one fingerprint at once must not both propose a problem.
        with self.store.transaction() as cur:
            [existing] = cur.execute(
                "SELECT min(id) FROM problems WHERE fingerprint = ? "
                "AND state IN ('proposed', 'open', 'known_error')",
                [inc["fingerprint"]],
            ).fetchone()
            if existing is not None:
                problem_id = existing
                self._link(cur, problem_id, inc["id"], "system", at)
                self.incidents.record(inc["id"], at, "problem", {"linked": problem_id}, cur=cur)
                return problem_id
            # The incidents are the incident service's to read (in this same transaction).
            same = self.incidents.detected_between(
                cur, inc["fingerprint"], since, at, MAX_RECURRING
            )
            if len(same) < self.settings.recurrence_count:
                return None
            title = (
                f"Recurring: {inc['rule']} — {len(same)} incidents in "
                f"{self.settings.recurrence_days} days"
            )
            problem_id = self._insert_problem(
                cur, title[:500], "proposed", inc["fingerprint"], "system", at, {}
            )
            for incident_id in same:
                self._link(cur, problem_id, incident_id, "system", at)
            self.incidents.record(
                inc["id"], at, "problem", {"proposed": problem_id, "incidents": same}, cur=cur
            )
        return problem_id

    def _rows(self, sql: str, params: list | dict | None = None) -> list[dict[str, Any]]:
        return query_dicts(self.store, sql, params)

    @staticmethod
    def linked_incidents(cur: duckdb.DuckDBPyConnection) -> list[int]:
        """Every incident some problem links (incident retention keeps them)."""
        return [
            r[0]
            for r in cur.execute("SELECT DISTINCT incident_id FROM problem_incidents").fetchall()
        ]


def _nothing_to_forget(cur: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Held incidents are never deleted, so no problem link is left behind."""


def _text(value: Any, field: str, limit: int) -> str:
    return bounded_text(value, field, limit, error=ProblemError)


def _optional(**values: str | None) -> dict[str, str]:
    return {
        k: bounded_text(v, k, MAX_TEXT, required=False, error=ProblemError)
        for k, v in values.items()
        if v is not None
    }


def _names(values: list[str] | None, field: str) -> list[str]:
    values = values or []
    if not isinstance(values, list) or len(values) > MAX_REFS:
        raise ProblemError(f"{field}: a list of at most {MAX_REFS} names")
    return [_text(v, f"{field}[{i}]", 200) for i, v in enumerate(values)]
