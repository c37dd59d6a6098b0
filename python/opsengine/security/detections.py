"""Detections: alerts of the rule pack's security rules become ``detection`` findings.

Subscribed to ``engine.alerts``: an alert that starts firing for a rule declared in
``detections.yaml`` (SSH brute force and invalid-user enumeration per source address, PAM
failures) reports a finding on the alert label the declaration names (the source IP), so
one address is one finding however often it fires again. The evidence is the alert: its
rule, labels, summary, count and when it started.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import pyarrow as pa
import yaml

from opsengine.security.findings import FindingService
from opsengine.security.models import SEVERITIES


def load_detections(text: str | None = None, source: str = "alerts") -> dict[str, dict[str, str]]:
    """rule -> {cause, subject, title, severity} of ``source`` (alerts | events); a bad
    entry names its place."""
    if text is None:
        text = resources.files("opsengine.security").joinpath("detections.yaml").read_text()
    entries = yaml.safe_load(text) or []
    if not isinstance(entries, list):
        raise ValueError("detections: expected a list of {rule, cause, subject, title}")
    out = {}
    for n, e in enumerate(entries, 1):
        missing = [k for k in ("rule", "cause", "subject", "title") if not isinstance(e, dict)
                   or not isinstance(e.get(k), str)]  # fmt: skip
        if missing:
            raise ValueError(f"detections #{n}: missing {', '.join(missing)}")
        if e.get("source", "alerts") not in ("alerts", "events"):
            raise ValueError(f"detections #{n}: source: expected alerts or events")
        if e.get("source", "alerts") == source:
            out[e["rule"]] = {k: e.get(k) for k in ("cause", "subject", "title", "severity")}
    return out


class AlertDetections:
    """The ``engine.alerts`` subscriber that turns firing security alerts into findings."""

    def __init__(self, findings: FindingService, detections: dict[str, dict[str, str]]) -> None:
        self.findings = findings
        self.detections = detections

    def __call__(self, table: pa.Table) -> None:
        for row in table.to_pylist(maps_as_pydicts="lossy"):
            d = self.detections.get(row["rule"])
            if d is None or row["state"] != "firing":
                continue
            labels = row["labels"] or {}
            subject = labels.get(d["subject"])
            if not subject:
                continue
            severity = row["severity"] if row["severity"] in SEVERITIES else "medium"
            self.findings.observe(
                kind="detection", subject=subject, cause=d["cause"], severity=severity,
                title=d["title"].format(subject=subject), host=labels.get("host") or None,
                now=row["ts"], actor="detector",
                evidence={"rule": row["rule"], "fingerprint": row["fingerprint"],
                          "labels": labels, "annotations": row["annotations"] or {},
                          "count": row["value"], "active_since": row["active_since"]},
            )  # fmt: skip


class EventDetections:
    """Events of single-line rules (``POSSIBLE BREAK-IN ATTEMPT``, sudo failures) since the
    last poll, one finding per (cause, subject); the position is the last ``log_id`` read."""

    def __init__(self, store: Any, findings: FindingService, detections: dict) -> None:
        self.store = store
        self.findings = findings
        self.detections = detections

    def poll(self) -> int:
        """Report the new events; returns the findings touched."""
        if not self.detections:
            return 0
        cur = self.store.cursor()
        try:
            row = cur.execute(
                "SELECT position FROM security_positions WHERE name = 'events'"
            ).fetchone()
            after = row[0] if row else -1
            rules = list(self.detections)
            rows = cur.execute(
                "SELECT ts, host, rule, fields, log_id FROM events WHERE log_id > ? AND rule IN "
                f"({', '.join('?' * len(rules))}) ORDER BY log_id",
                [after, *rules],
            ).fetchall()
            top = cur.execute("SELECT max(log_id) FROM events").fetchone()[0]
        finally:
            cur.close()
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for ts, host, rule, fields, log_id in rows:
            d = self.detections[rule]
            fields = dict(fields or {})
            subject = fields.get(d["subject"])
            if not subject:
                continue
            g = groups.setdefault((d["cause"], subject), {
                "d": d, "host": host, "first": ts, "last": ts, "count": 0, "rules": set(),
                "log_ids": []})  # fmt: skip
            g["last"], g["count"] = ts, g["count"] + 1
            g["rules"].add(rule)
            if len(g["log_ids"]) < 20:
                g["log_ids"].append(log_id)
        for (cause, subject), g in groups.items():
            d = g["d"]
            self.findings.observe(
                kind="detection", subject=subject, cause=cause,
                severity=d.get("severity") or "medium", title=d["title"].format(subject=subject),
                host=g["host"], now=g["last"], actor="detector",
                evidence={"rules": sorted(g["rules"]), "events": g["count"],
                          "first": g["first"], "last": g["last"], "log_ids": g["log_ids"]},
            )  # fmt: skip
        if top is not None and top > after:
            with self.store.transaction() as tx:
                tx.execute("DELETE FROM security_positions WHERE name = 'events'")
                tx.execute(
                    "INSERT INTO security_positions (name, position) VALUES ('events', ?)", [top]
                )
        return len(groups)
