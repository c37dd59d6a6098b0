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
from opsengine.incidents.rows import fetch_dicts, query_dicts, utc
from opsengine.sources.background import PeriodicTask

WARNING_RULE = "ticket_sla_warning"
BREACH_RULE = "ticket_sla_breach"
_LABEL = {"first_response": "first response", "resolution": "resolution"}


class SlaAlerts:
    def __init__(self, tickets: Any, alerts: Any, warning_percent: float = 75.0) -> None:
        if not 0 < warning_percent < 100:
            raise ValueError(
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
            for t in rows:
                _, clocks = self.tickets.clocks(t, now, cur)
                for target, clock in clocks.items():
                    if clock.met_at is not None:
                        continue
                    if clock.breached:
                        since = clock.due or now
                        wanted[(t["id"], target, "breach")] = (since, t)
                    if clock.reached(self.warning_percent):
                        since = _warned_at(self.tickets, t, clock, self.warning_percent, cur, now)
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
                    "INSERT OR REPLACE INTO ticket_sla_alerts VALUES (?, ?, ?, ?, NULL)",
                    [*k, wanted[k][0]],
                )
            for k in resolving:
                c.execute(
                    "UPDATE ticket_sla_alerts SET resolved_at = ? "
                    "WHERE ticket_id = ? AND target = ? AND level = ?",
                    [now, *k],
                )
        return len(changes)


def _warned_at(tickets, t, clock, percent, cur, now) -> datetime:
    """When the clock crossed the warning line: the alert instance's first evidence."""
    name, _ = tickets.clocks(t, now, cur)
    policy = tickets.policy(name, cur)
    calendar = tickets.calendar(policy.calendar, cur)
    pauses, _since = tickets._pauses(cur, t["id"])
    at = calendar.add(t["created_at"], clock.seconds * percent / 100.0, pauses)
    return min(at, now)


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
    """Calls ``SlaAlerts.check()`` every ``interval_s`` in ``opsengine run``."""

    thread_name = "opsengine-sla-clock"

    def __init__(self, sla_alerts: SlaAlerts, interval_s: float) -> None:
        super().__init__(interval_s)
        self.sla_alerts = sla_alerts
        self.changes = 0

    def run_once(self) -> None:
        self.changes += self.sla_alerts.check()

    def status(self) -> dict[str, Any]:
        return {**super().status(), "alert_changes": self.changes}
