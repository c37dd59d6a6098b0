"""Alert changes → incidents: dedup by fingerprint, grouping, flap damping, auto-resolve.

Rows are applied in event-time order and every window compares event times, never the
wall clock, so replaying a file opens exactly the incidents the live engine opened. All
state lives in the store (``incidents``, ``incident_alerts``), so a restart changes nothing.

For each ``firing`` change, the first that applies wins:

0. *Known instance*: the alert instance (fingerprint, ``active_since``) is already behind
   an incident — a later change of it, or a replay of the same data: nothing new opens.
1. *Repeat*: the fingerprint belongs to an open incident. A new alert instance (a new
   ``active_since``) counts one more alert.
2. *Flap*: the fingerprint's latest incident resolved less than ``flap_window`` ago: it is
   reopened. Reopened ``flap_threshold`` times, it is marked ``flapping`` and its
   notifications are held (damping) until it stays quiet.
3. *Group*: an open incident of the same category (``CATEGORIES``: a security alert never
   joins an outage) and the same service (or, without a service label, the same host) saw
   an alert within ``group_window``: the alert joins it; a more urgent alert raises the
   incident's priority.
4. Otherwise a new incident opens. An open host-down incident on the same host (rules in
   ``host_down_rules``) inhibits it: it is recorded but marked ``suppressed_by``.

A ``resolved`` change marks its instance resolved; when every alert of an open incident is
resolved and the incident auto-resolves (the default; an alert annotation or label
``auto_resolve: "false"`` turns it off for that rule) it resolves at that event time.
``pending`` changes open nothing: an incident starts when an alert fires.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from opsengine.incidents.model import (
    CATEGORIES,
    IncidentChange,
    impact_urgency,
    priority,
)
from opsengine.store.rows import fetch_dicts

if TYPE_CHECKING:
    from opsengine.incidents.service import IncidentService

_STATE_ORDER = {"pending": 0, "firing": 1, "resolved": 2}
SERVICE_LABELS = ("service", "job", "app")
HISTORY_ROWS = 1_000  # incidents of one fingerprint looked at (recurring ones pile up)
HOST_LABELS = ("host", "instance", "hostname")


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)


def incident_category(alert: dict[str, Any]) -> str:
    """The category of the incident an alert opens or may join (an unknown one: error)."""
    return CATEGORIES.get(alert["category"] or "", "error")


class AlertCorrelator:
    """Applies one table of alert changes inside the caller's transaction."""

    def __init__(self, service: IncidentService, cur: duckdb.DuckDBPyConnection) -> None:
        self.svc = service
        self.cur = cur
        self.changes: list[IncidentChange] = []

    def apply(self, table: pa.Table) -> list[IncidentChange]:
        rows = table.to_pylist()
        for r in rows:
            r["labels"] = dict(r["labels"] or [])
            r["annotations"] = dict(r["annotations"] or [])
        rows.sort(key=lambda r: (r["ts"], _STATE_ORDER.get(r["state"], 3), r["fingerprint"]))
        for r in rows:
            if r["state"] == "firing":
                self._firing(r)
            elif r["state"] == "resolved":
                self._resolved(r)
        return self.changes

    # -- firing ---------------------------------------------------------------
    def _firing(self, a: dict[str, Any]) -> None:
        ts = a["ts"]
        # Every incident this fingerprint is behind, newest first: one statement answers
        # the known-instance, repeat and flap questions below.
        history = fetch_dicts(
            self.cur,
            "SELECT i.*, ia.active_since AS member_since FROM incident_alerts ia "
            "JOIN incidents i ON i.id = ia.incident_id WHERE ia.fingerprint = ? "
            f"ORDER BY i.id DESC, ia.active_since DESC LIMIT {HISTORY_ROWS}",
            [a["fingerprint"]],
        )
        known = [h for h in history if h["member_since"] == a["active_since"]]
        if known:
            # This alert instance is already behind an incident (a later change of it, or a
            # replay of the same data): it moves last_seen only and opens nothing.
            if known[0]["state"] in ("triggered", "acknowledged"):
                self._member(known[0]["id"], a, known=True)
                self._touch(known[0], a, new_alert=False)
            return
        member = [h for h in history if h["state"] in ("triggered", "acknowledged")]
        if member:
            self._repeat(max(member, key=lambda h: h["member_since"]), a)
            return
        since = ts - timedelta(seconds=self.svc.flap_window)
        last = [
            h
            for h in history
            if h["fingerprint"] == a["fingerprint"]
            and h["state"] == "resolved"
            and since <= h["resolved_at"] <= ts
        ]
        if last:
            self._reopen_flapping(max(last, key=lambda h: h["resolved_at"]), a)
            return
        service = _first(a["labels"], SERVICE_LABELS)
        host = _first(a["labels"], HOST_LABELS)
        if service or host:
            column, value = ("service", service) if service else ("host", host)
            group = fetch_dicts(
                self.cur,
                f"SELECT * FROM incidents WHERE {column} = ? AND category = ? "
                "AND state IN ('triggered', 'acknowledged') AND last_seen_at >= ? "
                "AND detected_at <= ? ORDER BY last_seen_at DESC, id DESC LIMIT 1",
                [value, incident_category(a), ts - timedelta(seconds=self.svc.group_window), ts],
            )
            if group:
                self._group(group[0], a)
                return
        self._open(a, service, host)

    def _member(self, incident_id: int, a: dict[str, Any], *, known: bool = False) -> bool:
        """Add the alert instance to the incident (``known``: it is there; refresh it).

        Returns whether it is a new alert of the incident.
        """
        if known:
            self.cur.execute(
                "UPDATE incident_alerts SET state = 'firing', updated_at = ? "
                "WHERE incident_id = ? AND fingerprint = ? AND active_since = ?",
                [a["ts"], incident_id, a["fingerprint"], a["active_since"]],
            )
            return False
        self.cur.execute(
            "INSERT INTO incident_alerts VALUES (?, ?, ?, ?, 'firing', ?)",
            [incident_id, a["fingerprint"], a["rule"], a["active_since"], a["ts"]],
        )
        return True

    def _touch(self, inc: dict[str, Any], a: dict[str, Any], *, new_alert: bool) -> None:
        self.svc.touch(self.cur, inc["id"], a["ts"], 1 if new_alert else 0)

    def _repeat(self, inc: dict[str, Any], a: dict[str, Any]) -> None:
        new_alert = self._member(inc["id"], a)
        self._touch(inc, a, new_alert=new_alert)
        if new_alert:
            self.svc.add_event(
                self.cur,
                inc["id"],
                a["ts"],
                "system",
                "repeated",
                {"fingerprint": a["fingerprint"], "active_since": a["active_since"]},
            )
            self.changes.append(IncidentChange("repeated", inc["id"], a["ts"]))

    def _reopen_flapping(self, inc: dict[str, Any], a: dict[str, Any]) -> None:
        flaps = inc["flap_count"] + 1
        flapping = flaps >= self.svc.settings.flap_threshold
        self._member(inc["id"], a)
        self._touch(inc, a, new_alert=True)
        self.svc.update_incident(self.cur, inc["id"], flap_count=flaps, flapping=flapping)
        self.svc.set_state(
            self.cur,
            inc,
            "triggered",
            a["ts"],
            "system",
            detail={"reason": "alert fired again", "flap_count": flaps, "flapping": flapping},
        )
        if flapping and not inc["flapping"]:
            self.svc.add_event(
                self.cur, inc["id"], a["ts"], "system", "flapping", {"flap_count": flaps}
            )
        self.changes.append(
            IncidentChange("reopened", inc["id"], a["ts"], detail={"flapping": flapping})
        )

    def _group(self, inc: dict[str, Any], a: dict[str, Any]) -> None:
        new_alert = self._member(inc["id"], a)
        self._touch(inc, a, new_alert=new_alert)
        impact, urgency = impact_urgency(a["severity"], a["labels"])
        detail: dict[str, Any] = {"fingerprint": a["fingerprint"], "rule": a["rule"]}
        new_priority = priority(impact, urgency)
        if new_priority < inc["priority"]:  # "P1" < "P2": more urgent
            self.svc.update_incident(
                self.cur, inc["id"], impact=impact, urgency=urgency, priority=new_priority
            )
            detail["priority"] = {"from": inc["priority"], "to": new_priority}
        if new_alert:
            self.svc.add_event(self.cur, inc["id"], a["ts"], "system", "grouped", detail)
            self.changes.append(IncidentChange("grouped", inc["id"], a["ts"], detail=detail))

    def _open(self, a: dict[str, Any], service: str | None, host: str | None) -> None:
        labels, annotations = a["labels"], a["annotations"]
        impact, urgency = impact_urgency(a["severity"], labels)
        auto = (annotations.get("auto_resolve") or labels.get("auto_resolve") or "true").lower()
        title = annotations.get("summary") or annotations.get("title") or a["rule"]
        where = host or service
        if where and where not in title:
            title = f"{title} ({where})"
        suppressed_by = self._inhibitor(a["rule"], host)
        row = {
            "fingerprint": a["fingerprint"],
            "rule": a["rule"],
            "title": title[:500],
            "category": incident_category(a),
            "impact": impact,
            "urgency": urgency,
            "service": service,
            "host": host,
            "labels": {**labels, "alertname": a["rule"]},
            "auto_resolve": auto not in ("false", "no", "0", "off"),
            "suppressed_by": suppressed_by,
            "started_at": a["active_since"],
            "detected_at": a["fired_at"] or a["ts"],
        }
        incident_id = self.svc.insert_incident(self.cur, row)
        self._member(incident_id, a)
        self.svc.add_event(
            self.cur,
            incident_id,
            row["detected_at"],
            "system",
            "opened",
            {
                "fingerprint": a["fingerprint"],
                "rule": a["rule"],
                "source": a["source"],
                "priority": priority(impact, urgency),
                "value": a["value"],
            },
        )
        if suppressed_by:
            self.svc.add_event(
                self.cur,
                incident_id,
                row["detected_at"],
                "system",
                "suppressed",
                {"by": suppressed_by},
            )
        self.changes.append(IncidentChange("opened", incident_id, row["detected_at"]))

    def _inhibitor(self, rule: str, host: str | None) -> str | None:
        down_rules = list(self.svc.settings.host_down_rules)
        if host is None or rule in down_rules or not down_rules:
            return None
        row = self.cur.execute(
            "SELECT id, rule FROM incidents WHERE host = ? AND state IN ('triggered', 'acknowledged') "
            f"AND rule IN ({', '.join('?' * len(down_rules))}) ORDER BY id LIMIT 1",
            [host, *down_rules],
        ).fetchone()
        return f"inhibition: incident {row[0]} ({row[1]}) on host {host}" if row else None

    # -- resolved -------------------------------------------------------------
    def _resolved(self, a: dict[str, Any]) -> None:
        ts = a["resolved_at"] or a["ts"]
        self.cur.execute(
            "UPDATE incident_alerts SET state = 'resolved', updated_at = ? "
            "WHERE fingerprint = ? AND active_since = ? AND state = 'firing'",
            [a["ts"], a["fingerprint"], a["active_since"]],
        )
        touched = fetch_dicts(
            self.cur,
            "SELECT i.* FROM incidents i WHERE i.state IN ('triggered', 'acknowledged') "
            "AND i.id IN (SELECT incident_id FROM incident_alerts WHERE fingerprint = ? "
            "AND active_since = ?) ORDER BY i.id",
            [a["fingerprint"], a["active_since"]],
        )
        for inc in touched:
            firing = self.cur.execute(
                "SELECT count(*) FROM incident_alerts WHERE incident_id = ? AND state = 'firing'",
                [inc["id"]],
            ).fetchone()[0]
            if firing or not inc["auto_resolve"]:
                continue
            self.svc.set_state(
                self.cur, inc, "resolved", ts, "system", detail={"reason": "all alerts resolved"}
            )
            self.changes.append(IncidentChange("resolved", inc["id"], ts))
