"""Findings: one row per (kind, subject, cause) with a state, evidence and a full history.

``observe()`` is how scanners and detectors report: the first sighting opens a finding,
later ones update it (last seen, occurrences, evidence). A mitigated finding that recurs
reopens; a false positive stays closed and counts the recurrence in ``suppressed``; an
accepted risk stays accepted until ``accepted_until``, when :meth:`expire` reopens it.
People move findings with :meth:`act` (acknowledge, mitigate, accept-risk,
false-positive, reopen); every change is a history row naming who made it.

High and critical findings open a security incident through the incident path: a
``security_finding`` alert (category ``security``, label ``finding``) on ``engine.alerts``;
the incident's id is kept on the finding, and the alert resolves when the finding closes.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from opsengine.alerts import AlertChange, changes_table
from opsengine.security.models import (
    CLOSED,
    FINDING_RULE,
    KINDS,
    SEVERITIES,
    STATES,
    TRANSITIONS,
    FindingNotFound,
    InvalidTransition,
    SecurityError,
)
from opsengine.store.rows import Where, fetch_dicts, query_dicts, query_rows


def _now() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class FindingService:
    def __init__(self, store: Any, alerts: Any, incident_severities: list[str]) -> None:
        self.store = store
        self.alerts = alerts
        self.incident_severities = tuple(incident_severities)
        self.host = socket.gethostname()
        self._lock = threading.RLock()

    # -- reporting ------------------------------------------------------------------
    def observe(
        self,
        *,
        kind: str,
        subject: str,
        cause: str,
        severity: str,
        title: str,
        evidence: dict[str, Any],
        host: str | None = None,
        now: datetime | None = None,
        actor: str = "scanner",
    ) -> tuple[dict[str, Any], str]:
        """Report a sighting; returns the finding and what happened to it:
        ``opened``, ``seen``, ``reopened`` or ``suppressed``."""
        if kind not in KINDS:
            raise SecurityError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        if severity not in SEVERITIES:
            raise SecurityError(
                f"severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}"
            )
        now = now or _now()
        host = host or self.host
        with self._lock:
            with self.store.transaction() as cur:
                rows = fetch_dicts(
                    cur,
                    "SELECT * FROM security_findings WHERE kind = ? AND subject = ? AND cause = ?",
                    [kind, subject, cause],
                )
                if not rows:
                    fid = self._next_id(cur, "security_findings")
                    cur.execute(
                        "INSERT INTO security_findings (id, kind, subject, cause, host, severity,"
                        " title, state, evidence, first_seen, last_seen, occurrences, suppressed,"
                        " accepted_until, incident_id, updated_at, closed_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, 1, 0, NULL, NULL, ?, NULL)",
                        [fid, kind, subject, cause, host, severity, title, _dumps(evidence),
                         now, now, now],
                    )  # fmt: skip
                    self._history(cur, fid, now, actor, "opened", None, "open", None)
                    change = "opened"
                else:
                    f = rows[0]
                    fid = f["id"]
                    if f["state"] == "false_positive":
                        cur.execute(
                            "UPDATE security_findings SET suppressed = suppressed + 1, last_seen = ?,"
                            " updated_at = ? WHERE id = ?",
                            [now, now, fid],
                        )
                        self._history(cur, fid, now, actor, "suppressed", "false_positive",
                                      "false_positive", "recurred while marked a false positive")  # fmt: skip
                        change = "suppressed"
                    else:
                        state = "open" if f["state"] == "mitigated" else f["state"]
                        cur.execute(
                            "UPDATE security_findings SET severity = ?, title = ?, evidence = ?,"
                            " last_seen = ?, occurrences = occurrences + 1, state = ?,"
                            " closed_at = CASE WHEN ? = 'open' THEN NULL ELSE closed_at END,"
                            " updated_at = ? WHERE id = ?",
                            [severity, title, _dumps(evidence), now, state, state, now, fid],
                        )
                        if f["state"] == "mitigated":
                            self._history(cur, fid, now, actor, "reopened", "mitigated", "open",
                                          "seen again after it was mitigated")  # fmt: skip
                            change = "reopened"
                        else:
                            change = "seen"
            finding = self.get(fid, history=False)
            if change in ("opened", "reopened"):
                self._raise_incident(finding, now)
        return finding, change

    def close_absent(
        self,
        kind: str,
        seen: set[tuple[str, str]],
        *,
        now: datetime,
        reason: str,
        subject_prefixes: tuple[str, ...] = ("",),
        causes: set[str] | None = None,
        actor: str = "scanner",
    ) -> list[dict[str, Any]]:
        """Mitigate the open/acknowledged findings of ``kind`` whose (subject, cause) the
        scan did not see again (a fixed package, a corrected setting), among the subjects
        starting with one of ``subject_prefixes`` and of the ``causes`` (default all) that the
        scan could judge."""
        with self._lock:
            candidates = query_dicts(
                self.store,
                "SELECT id, subject, cause FROM security_findings WHERE kind = ? "
                "AND state IN ('open', 'acknowledged') ORDER BY id",
                [kind],
            )
            closed = []
            for c in candidates:
                if (c["subject"], c["cause"]) in seen or not c["subject"].startswith(
                    subject_prefixes
                ):
                    continue
                if causes is not None and c["cause"] not in causes:
                    continue
                closed.append(self._move(c["id"], "mitigate", actor=actor, reason=reason, now=now))
        return closed

    # -- people -----------------------------------------------------------------------
    def act(
        self,
        finding_id: int,
        action: str,
        *,
        actor: str,
        reason: str | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """acknowledge | mitigate | accept-risk (needs ``until`` in the future) |
        false-positive | reopen."""
        if action not in TRANSITIONS:
            raise SecurityError(f"action: expected one of {', '.join(TRANSITIONS)}, got {action!r}")
        now = now or _now()
        if action == "accept-risk":
            if until is None:
                raise SecurityError("until: accepting a risk needs the date it is accepted until")
            if until.tzinfo is None:
                raise SecurityError("until: give a time zone (e.g. 2027-01-31T00:00:00Z)")
            if until <= now:
                raise SecurityError(f"until: {until.isoformat()} is not in the future")
        with self._lock:
            return self._move(finding_id, action, actor=actor, reason=reason, until=until, now=now)

    def _move(
        self, finding_id: int, action: str, *, actor: str, reason: str | None, now: datetime,
        until: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        allowed, target = TRANSITIONS[action]
        with self.store.transaction() as cur:
            f = self._load(cur, finding_id)
            if f["state"] not in allowed:
                raise InvalidTransition(
                    f"finding {finding_id} is {f['state']}: cannot {action} (allowed from "
                    f"{', '.join(allowed)})"
                )
            cur.execute(
                "UPDATE security_findings SET state = ?, accepted_until = ?, updated_at = ?,"
                " closed_at = ? WHERE id = ?",
                [target, until, now, now if target in CLOSED else None, finding_id],
            )
            detail = {"until": until.isoformat()} if until else None
            self._history(cur, finding_id, now, actor, action, f["state"], target, reason, detail)
        finding = self.get(finding_id, history=False)
        if target in CLOSED:
            self._resolve_incident(finding, now)
        elif target == "open":
            self._raise_incident(finding, now)
        return finding

    def expire(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Reopen accepted risks whose ``accepted_until`` has passed."""
        now = now or _now()
        with self._lock:
            due = query_dicts(
                self.store,
                "SELECT id FROM security_findings WHERE state = 'accepted_risk' "
                "AND accepted_until <= ? ORDER BY id",
                [now],
            )
            return [
                self._move(
                    r["id"], "reopen", actor="scanner", now=now, reason="the accepted risk expired"
                )
                for r in due
            ]

    # -- reading ------------------------------------------------------------------------
    def list(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        subject: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Findings by id, after the id ``after``; filters are exact values."""
        for name, value, known in (("state", state, STATES), ("kind", kind, KINDS),
                                   ("severity", severity, SEVERITIES)):  # fmt: skip
            if value is not None and value not in known:
                raise SecurityError(f"{name}: expected one of {', '.join(known)}, got {value!r}")
        where = Where()
        where.equal(state=state, kind=kind, severity=severity, subject=subject)
        if after is not None:
            where.add("id > ?", after)
        rows = query_rows(
            self.store,
            f"SELECT * FROM security_findings{where.sql()} ORDER BY id LIMIT ?",
            [*where.params, limit],
        )
        return [_shape(r) for r in rows]

    def get(self, finding_id: int, *, history: bool = True) -> dict[str, Any]:
        cur = self.store.cursor()
        try:
            f = _shape(self._load(cur, finding_id))
            if history:
                f["history"] = [
                    {**h, "detail": json.loads(h["detail"]) if h["detail"] else None}
                    for h in fetch_dicts(
                        cur,
                        "SELECT ts, actor, action, from_state, to_state, reason, detail "
                        "FROM security_finding_history WHERE finding_id = ? ORDER BY id",
                        [finding_id],
                    )
                ]
        finally:
            cur.close()
        return f

    def _load(self, cur: Any, finding_id: int) -> dict[str, Any]:
        if isinstance(finding_id, bool) or not isinstance(finding_id, int):
            raise SecurityError(f"id: a finding id is a whole number, got {finding_id!r}")
        rows = fetch_dicts(cur, "SELECT * FROM security_findings WHERE id = ?", [finding_id])
        if not rows:
            raise FindingNotFound(f"no finding {finding_id}")
        return rows[0]

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _next_id(cur: Any, table: str) -> int:
        # table is this module's constant, never input
        return cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]

    def _history(
        self, cur: Any, fid: int, ts: datetime, actor: str, action: str, old: str | None,
        new: str | None, reason: str | None, detail: dict | None = None,
    ) -> None:  # fmt: skip
        cur.execute(
            "INSERT INTO security_finding_history (id, finding_id, ts, actor, action, from_state,"
            " to_state, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self._next_id(cur, "security_finding_history"), fid, ts, actor, action, old, new,
             reason, _dumps(detail) if detail else None],
        )  # fmt: skip

    def _alert(self, f: dict[str, Any], state: str, now: datetime, since: datetime) -> AlertChange:
        return AlertChange(
            ts=now, rule=FINDING_RULE, state=state, active_since=since,
            fired_at=since, resolved_at=now if state == "resolved" else None,
            labels={"finding": str(f["id"]), "kind": f["kind"], "subject": f["subject"],
                    "host": f["host"] or ""},
            annotations={"summary": f"security finding {f['id']}: {f['title']}"},
            severity=f["severity"], category="security", source="security",
        )  # fmt: skip

    def _raise_incident(self, f: dict[str, Any], now: datetime) -> None:
        if f["severity"] not in self.incident_severities or self.alerts is None:
            return
        change = self._alert(f, "firing", now, now)
        self.alerts.publish(changes_table([change]))
        rows = query_dicts(
            self.store,
            "SELECT id FROM incidents WHERE fingerprint = ? ORDER BY id DESC LIMIT 1",
            [change.fingerprint],
        )
        if rows:
            with self.store.transaction() as cur:
                cur.execute(
                    "UPDATE security_findings SET incident_id = ? WHERE id = ?",
                    [rows[0]["id"], f["id"]],
                )
                self._history(cur, f["id"], now, "scanner", "incident", f["state"], f["state"],
                              None, {"incident_id": rows[0]["id"]})  # fmt: skip
            f["incident_id"] = rows[0]["id"]

    def _resolve_incident(self, f: dict[str, Any], now: datetime) -> None:
        if f["incident_id"] is None or self.alerts is None:
            return
        firing = query_dicts(
            self.store,
            "SELECT active_since FROM alerts WHERE fingerprint = ? AND state = 'firing'",
            [self._alert(f, "firing", now, now).fingerprint],
        )
        for a in firing:
            self.alerts.publish(changes_table([self._alert(f, "resolved", now, a["active_since"])]))

    def for_incident(self, incident_id: int) -> list[dict[str, Any]]:
        """The findings that opened incident ``incident_id`` (the link back)."""
        rows = query_rows(
            self.store, "SELECT * FROM security_findings WHERE incident_id = ? ORDER BY id",
            [incident_id],
        )  # fmt: skip
        return [_shape(r) for r in rows]


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if isinstance(out.get("evidence"), str):
        out["evidence"] = json.loads(out["evidence"])
    return out
