"""SLA warnings and breaches as alerts, through the same path as probes and metric rules.

:meth:`SlaAlerts.check` looks at every unfinished ticket's clocks at ``now``: a clock past
``[tickets] sla_warning_percent`` of its target fires ``ticket_sla_warning``, one past its
due time fires ``ticket_sla_breach``; both resolve when the target is met (first response
given, ticket solved) or the ticket leaves the unfinished states. The alerts go to
``engine.alerts``, so incidents, escalation and notifications treat them like any other.
Which alerts are live is kept in ``ticket_sla_alerts``: a restart neither repeats nor
forgets one. ``opsengine run`` calls ``check`` every ``sla_tick_s`` (:class:`SlaClock`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsengine.alerts import AlertChange, changes_table, fingerprint
from opsengine.config import ConfigError
from opsengine.sources.background import PeriodicTask
from opsengine.store.rows import fetch_dicts, query_dicts, utc

WARNING_RULE = "ticket_sla_warning"
BREACH_RULE = "ticket_sla_breach"
_LABEL = {"first_response": "first response", "resolution": "resolution"}


class SlaAlerts:
    def __init__(self, tickets: Any, alerts: Any, warning_percent: float = 75.0) -> None:
        if not 0 < warning_percent < 100:
            raise ConfigError(
                f"[tickets] sla_warning_percent: between 0 and 100, got {warning_percent}"
            )
        self.tickets = tickets
        self.alerts = alerts
        self.warning_percent = warning_percent

    def check(self, now: datetime | None = None) -> int:
        """Raise and resolve SLA alerts as of ``now``; returns the alert changes published."""
        now = utc(now, "now")
        store = self.tickets.store
        live = {
            (r["ticket_id"], r["target"], r["level"]): r["active_since"]
            for r in query_dicts(store, "SELECT * FROM ticket_sla_alerts WHERE resolved_at IS NULL")
        }
        wanted: dict[tuple[int, str, str], tuple[datetime, dict[str, Any]]] = {}
        cur = store.cursor()
        try:
            rows = fetch_dicts(
                cur,
                "SELECT * FROM tickets WHERE status IN ('new', 'open', 'pending') "
                "AND sla_applied IS NOT NULL ORDER BY id",
            )
            cache: dict = {}  # policies and calendars, read once per check
            pauses = self.tickets.pause_periods(cur, [t["id"] for t in rows])
            for t in rows:
                basis = self.tickets.sla_basis(t, cur, cache, pauses)
                if basis is None:
                    continue
                _, clocks = self.tickets.clocks(t, now, cur, cache, pauses)
                calendar, done = basis[2], basis[3]
                for target, clock in clocks.items():
                    if clock.met_at is not None:
                        continue
                    if clock.breached:
                        wanted[(t["id"], target, "breach")] = (clock.due or now, t)
                    if clock.reached(self.warning_percent):
                        # When the clock crossed the line: the alert's first evidence.
                        line = clock.seconds * self.warning_percent / 100.0
                        since = min(calendar.add(t["created_at"], line, done), now)
                        wanted[(t["id"], target, "warning")] = (since, t)
        finally:
            cur.close()
        firing = [k for k in wanted if k not in live]
        resolving = [k for k in live if k not in wanted]
        if not firing and not resolving:
            return 0
        changes = [_change(k, wanted[k][0], now, "firing", wanted[k][1]) for k in firing]
        for k in resolving:
            found = query_dicts(store, "SELECT * FROM tickets WHERE id = ?", [k[0]])
            changes.append(_change(k, live[k], now, "resolved", found[0] if found else None))
        self.alerts.publish(changes_table(changes))
        with store.transaction() as c:
            for k in firing:
                c.execute(
                    "INSERT INTO ticket_sla_alerts VALUES (?, ?, ?, ?, NULL) "
                    "ON CONFLICT (ticket_id, target, level) DO UPDATE "
                    "SET active_since = excluded.active_since, resolved_at = NULL",
                    [*k, wanted[k][0]],
                )
            for k in resolving:
                c.execute(
                    "UPDATE ticket_sla_alerts SET resolved_at = ? "
                    "WHERE ticket_id = ? AND target = ? AND level = ?",
                    [now, *k],
                )
        return len(changes)


def _change(key, since: datetime, now: datetime, state: str, t: dict | None) -> AlertChange:
    ticket_id, target, level = key
    labels = {"ticket": str(ticket_id), "target": target}
    rule = BREACH_RULE if level == "breach" else WARNING_RULE
    # Named by ticket and target alone: a queue or priority change keeps the same alert.
    alert_id = fingerprint(rule, labels)
    severity, annotations = "medium", {}
    if t is not None:
        labels |= {"queue": t["queue"], "priority": t["priority"], "service": t["queue"]}
        if level == "breach":
            severity = "critical" if t["priority"] == "P1" else "high"
        due = t["first_response_due"] if target == "first_response" else t["resolution_due"]
        what = "breached" if level == "breach" else "at risk"
        annotations = {
            "summary": f"Ticket #{ticket_id} ({t['priority']}, {t['queue']}): "
            f"{_LABEL[target]} SLA {what}"
            + (f", due {due.isoformat()}" if due is not None else ""),
            "subject": t["subject"][:200],
        }
    return AlertChange(
        ts=now,
        rule=rule,
        fingerprint=alert_id,
        state=state,
        active_since=since,
        labels=labels,
        annotations=annotations,
        fired_at=now if state == "firing" else None,
        resolved_at=now if state == "resolved" else None,
        severity=severity,
        category="performance",
        source="sla",
    )


class SlaClock(PeriodicTask):
    """Calls ``SlaAlerts.check()`` every ``interval_s`` in ``opsengine run``, and closes
    tickets solved longer than ``[tickets] close_solved_after_days``."""

    thread_name = "opsengine-sla-clock"

    def __init__(self, sla_alerts: SlaAlerts, interval_s: float) -> None:
        super().__init__(interval_s)
        self.sla_alerts = sla_alerts
        self.changes = 0
        self.closed = 0  # solved tickets closed after close_solved_after_days

    def run_once(self) -> None:
        self.changes += self.sla_alerts.check()
        self.closed += len(self.sla_alerts.tickets.close_solved())

    def status(self) -> dict[str, Any]:
        return {**super().status(), "alert_changes": self.changes, "closed": self.closed}
