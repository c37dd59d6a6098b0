"""Detections: alerts of the rule pack's security rules become ``detection`` findings.

Subscribed to ``engine.alerts``: an alert that starts firing for a rule declared in
``detections.yaml`` (SSH brute force and invalid-user enumeration per source address, PAM
failures) reports a finding on the alert label the declaration names (the source IP), so
one address is one finding however often it fires again. The evidence is the alert: its
rule, labels, summary, count and when it started.
"""

from __future__ import annotations

from importlib import resources

import pyarrow as pa
import yaml

from opsengine.security.findings import FindingService
from opsengine.security.models import SEVERITIES


def load_detections(text: str | None = None) -> dict[str, dict[str, str]]:
    """rule -> {cause, subject, title}; a bad entry names its place."""
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
        out[e["rule"]] = {k: e[k] for k in ("cause", "subject", "title")}
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
