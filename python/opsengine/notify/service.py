"""``engine.notify``: turns incident changes into notices and escalates what nobody acknowledges.

It listens to the incident service. When an incident opens (or is reopened) the first
policy matching its labels applies: level 0's targets get a notice at once, and
:meth:`NotificationService.tick` — called with the current time, by the engine's loop
or by a test — escalates level by level while the incident stays unacknowledged.
Acknowledging, resolving or closing stops the escalation; resolving tells everyone
who was told about it.

Muted incidents (a silence, a maintenance window, or inhibition by a host-down
incident) are still recorded; their notices are stored as ``suppressed`` so the record
shows who would have been told. An escalation step inside a silence created later is
muted the same way. Flapping incidents hold their reopen/resolve notices. Acknowledging,
resolving or closing cancels pages still waiting for a retry.
Escalation steps are timed from event times (``next_at`` = step time + delay), so a
replay makes the same steps with the same idempotency keys, and sends nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from opsengine.config import ConfigError, IncidentSettings
from opsengine.durations import parse_duration
from opsengine.incidents.model import IncidentChange
from opsengine.incidents.service import IncidentService
from opsengine.notify.delivery import Outbox
from opsengine.notify.matchers import all_match, parse_matchers
from opsengine.notify.policies import EscalationPolicies
from opsengine.notify.retention import NOTIFY_RETENTION
from opsengine.notify.schedules import OnCallSchedules
from opsengine.notify.silences import Silences
from opsengine.store import Store
from opsengine.store.rows import query_dicts, utc

log = logging.getLogger(__name__)

NOTICE_FIELDS = (
    "id", "title", "priority", "state", "category", "service", "host", "assignee",
    "labels", "alert_count", "started_at", "detected_at", "acknowledged_at", "resolved_at",
)  # fmt: skip
MAX_STEPS_PER_TICK = 1_000  # bounds catch-up after a long pause


def notice_labels(inc: dict[str, Any]) -> dict[str, str]:
    """The labels silences and policies match: the alert's, plus the incident's own fields."""
    labels = {k: str(v) for k, v in (inc.get("labels") or {}).items()}
    labels.setdefault("alertname", inc["rule"])
    for key in ("service", "host", "priority", "category"):
        if inc.get(key):
            labels.setdefault(key, str(inc[key]))
    return labels


class NotificationService:
    def __init__(
        self,
        store: Store,
        incidents: IncidentService,
        settings: IncidentSettings | None = None,
    ) -> None:
        settings = settings or IncidentSettings()
        self.store = store
        self.incidents = incidents
        incidents.add_retention_hook("notify", NOTIFY_RETENTION)
        self.silences = Silences(store)
        self.policies = EscalationPolicies(store)
        self.schedules = OnCallSchedules(store)
        try:
            backoff = parse_duration(settings.notify_backoff)
        except ValueError as e:
            raise ConfigError(f"[incidents] notify_backoff: {e}") from None
        self.outbox = Outbox(
            store,
            max_attempts=settings.notify_max_attempts,
            backoff=backoff,
            timeout=float(settings.notify_timeout_s),
            on_outcome=self._record_outcome,
        )
        # Without a ticker, notices go out in the thread that published the alerts; with one
        # (start_ticker), that thread only queues them and wakes the ticker to send.
        self.deliver_immediately = True
        self.ticker: EscalationTicker | None = None
        self.errors = 0  # incident changes whose notices failed to queue (logged)
        # Set by the wiring: known-error id → {id, title, workaround} for the notice.
        self.describe_known_error: Callable[[int], dict[str, Any] | None] | None = None
        # Escalation rows change from the publishing thread (open, acknowledge) and from the
        # ticker; one lock orders them so a tick never writes back a row it read before a
        # reopening or an acknowledgement replaced it.
        self._escalation_lock = threading.RLock()
        self.outbox.recover(datetime.now(UTC))

    # -- incident changes in ------------------------------------------------
    def on_incident_changes(self, changes: list[IncidentChange]) -> None:
        latest = None
        # Policies and silences are small and read once per batch, not once per change;
        # silences that ended before the batch's first change cannot mute it and stay unread.
        earliest = min(c.ts for c in changes) if changes else None
        batch = _BatchView(self.policies.list(), self.silences.everything(ending_after=earliest))
        for change in changes:
            try:
                if change.kind in ("opened", "reopened"):
                    self._start(change, batch)
                elif change.kind in ("acknowledged", "resolved", "closed"):
                    self._stop_escalation(change.incident_id, change.kind)
                    if change.kind == "resolved":
                        self._resolved(change)
            except Exception:  # one incident's fault must not cost the others their notices
                self.errors += 1
                log.exception("notifying incident %s (%s) failed", change.incident_id, change.kind)
            latest = change.ts if latest is None else max(latest, change.ts)
        if latest is None:
            return
        if self.ticker is not None and self.ticker.is_alive():
            self.ticker.wake()
        elif self.deliver_immediately:
            self.outbox.deliver_due(latest)

    def _start(self, change: IncidentChange, batch: _BatchView) -> None:
        inc = self.incidents.row(change.incident_id)
        if change.kind == "reopened" and inc["flapping"]:
            self.incidents.record(inc["id"], change.ts, "notify", {"held": "flapping"})
            return
        labels = notice_labels(inc)
        policy = next(
            (p for p in batch.policies if all_match(parse_matchers(p["matchers"]), labels)), None
        )
        muted = inc["suppressed_by"] or self.silences.muting(labels, change.ts, batch.mutes)
        if muted and muted != inc["suppressed_by"]:
            self.incidents.mark_suppressed(inc["id"], muted, change.ts)
        if policy is None:
            self.incidents.record(
                inc["id"], change.ts, "notify", {"skipped": "no escalation policy matches"}
            )
            return
        reason = "triggered" if change.kind == "opened" else "reopened"
        level0 = policy["levels"][0]
        # The escalation, the notices and the timeline row commit together (one commit,
        # not one per row: commits are most of an incident's cost).
        with self._escalation_lock, self.store.transaction() as cur:
            if not muted:
                cur.execute(
                    "INSERT OR REPLACE INTO escalations VALUES (?, ?, 0, 0, ?, 'active')",
                    [inc["id"], policy["name"], change.ts + timedelta(seconds=level0["delay"])],
                )
            self._notify(cur, inc, level0["targets"], reason, change.ts, policy["name"], 0, muted)

    def _stop_escalation(self, incident_id: int, why: str) -> None:
        """No further level, and no page still waiting for a retry: someone has it now
        (PagerDuty's habit; a page after the acknowledgement only wakes a second person)."""
        with self._escalation_lock, self.store.transaction() as cur:
            cur.execute(
                "UPDATE escalations SET state = 'stopped', next_at = NULL "
                "WHERE incident_id = ? AND state = 'active'",
                [incident_id],
            )
            cur.execute(
                "UPDATE notifications SET state = 'cancelled', next_attempt_at = NULL, "
                "last_error = ? WHERE incident_id = ? AND state = 'pending' "
                "AND reason <> 'resolved'",
                [f"not sent: the incident was {why} first", incident_id],
            )

    def _resolved(self, change: IncidentChange) -> None:
        inc = self.incidents.row(change.incident_id)
        if inc["flapping"] or inc["suppressed_by"]:
            return
        told = self.outbox.notifications(incident_id=inc["id"], state="sent", limit=10_000)
        channels = sorted({n["channel"] for n in told})
        if channels:
            notice = self._notice(inc, "resolved")
            for channel in channels:
                self.outbox.enqueue(inc["id"], channel, "resolved", notice, change.ts)
            self.incidents.record(
                inc["id"], change.ts, "notified", {"reason": "resolved", "channels": channels}
            )

    # -- time passes ----------------------------------------------------------
    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Escalate what is due at ``now`` and send what is due; returns counts."""
        now = utc(now, "now")
        escalated = 0
        with self._escalation_lock:
            for esc in self._rows(
                "SELECT * FROM escalations WHERE state = 'active' AND next_at <= ? "
                "ORDER BY next_at, incident_id",
                [now],
            ):
                escalated += self._escalate(esc, now)
        counts = self.outbox.deliver_due(now)
        return {"escalated": escalated, **counts}

    def _escalate(self, esc: dict[str, Any], now: datetime) -> int:
        inc = self.incidents.row(esc["incident_id"])
        try:
            policy = self.policies.get(esc["policy"])
        except ValueError:
            policy = None
        # The steps' notices, their timeline rows and the escalation's new level: one commit.
        with self.store.transaction() as cur:
            level, passes, step_at, state, steps = self._escalation_steps(
                cur, inc, policy, esc["level"], esc["pass"], esc["next_at"], now
            )
            if inc["state"] != "triggered" or policy is None:
                state = "stopped"
            cur.execute(
                # Only while still active: an acknowledgement meanwhile has stopped it.
                "UPDATE escalations SET level = ?, pass = ?, next_at = ?, state = ? "
                "WHERE incident_id = ? AND state = 'active'",
                [level, passes, step_at if state == "active" else None, state, inc["id"]],
            )
        return steps

    def _escalation_steps(
        self,
        cur: duckdb.DuckDBPyConnection,
        inc: dict[str, Any],
        policy: dict[str, Any] | None,
        level: int,
        passes: int,
        step_at: datetime,
        now: datetime,
    ) -> tuple[int, int, datetime, str, int]:
        """Notify every level due by ``now``; (level, pass, next step, state, steps)."""
        steps = 0
        state = "active"
        while inc["state"] == "triggered" and policy is not None and step_at <= now:
            if steps >= MAX_STEPS_PER_TICK:
                break
            level += 1
            if level >= len(policy["levels"]):
                if passes >= policy["repeat"]:
                    state = "exhausted"
                    self.incidents.record(
                        inc["id"], step_at, "escalation", {"exhausted": policy["name"]}, cur=cur
                    )
                    break
                passes, level = passes + 1, 0
            targets = policy["levels"][level]["targets"]
            # A silence or maintenance window that began after the incident opened mutes
            # the steps inside it, as Alertmanager mutes an alert silenced while it fires.
            muted = self.silences.muting(notice_labels(inc), step_at)
            self._notify(
                cur, inc, targets, f"escalated to level {level + 1}", step_at, policy["name"],
                level, muted,
            )  # fmt: skip
            steps += 1
            step_at = step_at + timedelta(seconds=policy["levels"][level]["delay"])
        return level, passes, step_at, state, steps

    # -- notices ----------------------------------------------------------------
    def resolve_targets(self, targets: list[str], at: datetime) -> tuple[list[str], dict[str, str]]:
        """Channel names for ``targets`` at ``at``, and what each on-call target resolved to."""
        channels: list[str] = []
        resolved: dict[str, str] = {}
        for target in targets:
            kind, _, value = target.partition(":")
            if kind == "channel":
                channels.append(value)
                continue
            user = value
            if kind == "oncall":
                try:
                    user = self.schedules.on_call(value, at)
                except ValueError as e:
                    resolved[target] = f"unresolved: {e}"
                    continue
                if user is None:
                    resolved[target] = "unresolved: nobody on call"
                    continue
                resolved[target] = user
            owned = [c["name"] for c in self.outbox.channels(owner=user)]
            if not owned:
                resolved[target] = f"unresolved: user {user} has no channel"
            channels += owned
        return list(dict.fromkeys(channels)), resolved

    def _notify(
        self,
        cur: duckdb.DuckDBPyConnection,
        inc: dict[str, Any],
        targets: list[str],
        reason: str,
        at: datetime,
        policy: str,
        level: int,
        muted: str | None = None,
    ) -> None:
        channels, resolved = self.resolve_targets(targets, at)
        notice = self._notice(inc, reason)
        for channel in channels:
            self.outbox.enqueue(
                inc["id"], channel, reason, notice, at, suppressed_by=muted, cur=cur
            )
        detail: dict[str, Any] = {
            "reason": reason, "policy": policy, "level": level + 1, "channels": channels,
        }  # fmt: skip
        if resolved:
            detail["targets"] = resolved
        if muted:
            detail["suppressed_by"] = muted
        self.incidents.record(inc["id"], at, "suppressed" if muted else "notified", detail, cur=cur)

    def _notice(self, inc: dict[str, Any], reason: str) -> dict[str, Any]:
        notice: dict[str, Any] = {
            "version": "1",
            "source": "opsengine",
            "reason": reason,
            "incident": {k: _json_value(inc.get(k)) for k in NOTICE_FIELDS},
        }
        if inc.get("known_error_id") and self.describe_known_error is not None:
            notice["known_error"] = self.describe_known_error(inc["known_error_id"])
        return notice

    def _record_outcome(
        self,
        n: dict[str, Any],
        outcome: str,
        error: str | None,
        now: datetime,
        *,
        cur: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        detail = {"channel": n["channel"], "reason": n["reason"], "outcome": outcome}
        if error:
            detail["error"] = error
        try:
            self.incidents.record(n["incident_id"], now, "notification", detail, cur=cur)
        except ValueError:
            log.warning("notification %s: incident %s is gone", n["key"], n["incident_id"])

    def start_ticker(self, interval_s: float = 15.0) -> EscalationTicker:
        """Call :meth:`tick` with the wall clock every ``interval_s`` in a daemon thread.

        ``opsengine run`` starts one; tests and replays call ``tick(now)`` themselves.
        """
        ticker = EscalationTicker(self, interval_s)
        ticker.start()
        self.ticker = ticker
        return ticker

    # -- reads -------------------------------------------------------------------
    def on_call_now(self, at: datetime | None = None) -> dict[str, str | None]:
        """Every schedule → the user on call at ``at`` (default now)."""
        at = utc(at, "at")
        return {s["name"]: self.schedules.on_call(s["name"], at) for s in self.schedules.list()}

    def escalation(self, incident_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM escalations WHERE incident_id = ?", [incident_id])
        return rows[0] if rows else None

    def _rows(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        return query_dicts(self.store, sql, params)


@dataclass(frozen=True, slots=True)
class _BatchView:
    policies: list[dict[str, Any]]
    mutes: list[tuple[str, dict[str, Any]]]


class EscalationTicker(threading.Thread):
    """The live clock for escalations and retries; a failing tick is logged, never fatal."""

    def __init__(self, service: NotificationService, interval_s: float) -> None:
        super().__init__(name="opsengine-escalation", daemon=True)
        self.service = service
        self.interval_s = max(0.05, interval_s)
        self._halt = threading.Event()
        self._wake = threading.Event()
        self.ticks = 0
        self.errors = 0

    def wake(self) -> None:
        """Tick now: new notices are queued."""
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """For ``opsengine run``'s health and banner (it runs beside the sources)."""
        return {
            "where": f"escalations and notification retries every {self.interval_s:g}s",
            "ticks": self.ticks,
            "errors": self.errors,
        }

    def run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._halt.is_set():
                return
            try:
                self.service.tick(datetime.now(UTC))
                self.ticks += 1
            except duckdb.ConnectionException:
                log.info("escalation ticker stops: the store is closed")
                return
            except Exception:
                self.errors += 1
                log.exception("escalation tick failed")

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
