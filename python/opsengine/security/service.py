"""The security service: ``engine.security``. Findings (:mod:`findings`) and the scan that
feeds them: the vulnerability audit of the inventory against OSV advisories.

``scan()`` first reopens accepted risks that expired, then collects the Debian and Python
inventory (``engine.inventory``: the same collectors and history as ``opsengine inventory``),
matches every installed package against the advisories, reports each match as a
``vulnerability`` finding and mitigates the findings whose package no longer matches (it
was upgraded or removed). Only what was read is judged: a dpkg status file that cannot be
read closes no Debian finding.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from opsengine.security import hardening, osv
from opsengine.security.findings import FindingService
from opsengine.store.rows import query_dicts


class SecurityService:
    def __init__(self, store: Any, alerts: Any, inventory: Any, settings: Any) -> None:
        self.store = store
        self.inventory = inventory  # config_mgmt.inventory_service.InventoryService
        self.settings = settings  # opsengine.config.SecuritySettings
        self.findings = FindingService(store, alerts, settings.incident_severities)
        self.events: Any = None  # detections.EventDetections, set by wiring

    # findings, for callers that hold engine.security
    def list(self, **filters: Any) -> list[dict[str, Any]]:
        return self.findings.list(**filters)

    def get(self, finding_id: int) -> dict[str, Any]:
        return self.findings.get(finding_id)

    def act(self, finding_id: int, action: str, **kw: Any) -> dict[str, Any]:
        return self.findings.act(finding_id, action, **kw)

    def scan(
        self,
        *,
        osv_dir: str | None = None,
        dpkg_status: str | None = None,
        python_paths: list[str] | None = None,
        actor: str = "scanner",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Run the audit now; returns the findings opened, reopened, seen and closed."""
        now = now or datetime.now(UTC)
        report: dict[str, Any] = {"ts": now, "opened": [], "reopened": [], "seen": 0,
                                  "suppressed": 0, "closed": [], "errors": [], "skipped": [],
                                  "advisories": 0, "withdrawn": 0, "packages": 0}  # fmt: skip
        report["reopened"] += [f["id"] for f in self.findings.expire(now)]
        if self.events is not None:
            report["detections"] = self.events.poll()
        osv_dir = osv_dir or self.settings.osv_dir
        if osv_dir:
            self._audit(osv_dir, dpkg_status, python_paths, actor, now, report)
        else:
            report["errors"].append("no OSV directory: set [security] osv_dir or pass --osv DIR")
        self._harden(actor, now, report)
        with self.store.transaction() as cur:
            scan_id = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM security_scans").fetchone()[
                0
            ]
            cur.execute(
                "INSERT INTO security_scans (id, ts, actor, osv_dir, advisories, withdrawn, skipped,"
                " packages, opened, closed, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [scan_id, now, actor, osv_dir or None, report["advisories"], report["withdrawn"],
                 json.dumps(report["skipped"]), report["packages"], len(report["opened"]),
                 len(report["closed"]), json.dumps(report["errors"])],
            )  # fmt: skip
        report["id"] = scan_id
        return report

    def _audit(
        self, osv_dir: str, dpkg_status: str | None, python_paths: list[str] | None, actor: str,
        now: datetime, report: dict[str, Any],
    ) -> None:  # fmt: skip
        try:
            advisories = osv.load(osv_dir)
        except OSError as e:
            report["errors"].append(str(e))
            return
        report["advisories"], report["withdrawn"] = (
            len(advisories.advisories),
            advisories.withdrawn,
        )
        report["skipped"] = advisories.skipped
        run = self.inventory.collect(kinds=("deb", "python"), dpkg_status=dpkg_status,
                                     python_paths=python_paths, now=now)  # fmt: skip
        report["errors"] += run["errors"]
        host = run["host"]
        by_name: dict[tuple[str, str], list[dict[str, Any]]] = {}
        packages = [p for kind in run["kinds"] for p in self.inventory.software(host, kind)]
        report["packages"] = len(packages)
        for p in packages:
            for name in osv.package_names(p["kind"], p["name"], p["detail"]):
                by_name.setdefault((p["kind"], name), []).append(p)
        seen: set[tuple[str, str]] = set()
        for adv in advisories.advisories:
            for a in adv.affected:
                for p in by_name.get((a.kind, a.name), []):
                    if not p["version"]:
                        continue
                    try:
                        hit, fixed = osv.affected_by(a, p["version"])
                    except ValueError as e:  # an installed version its ecosystem cannot read
                        report["errors"].append(f"{p['kind']}:{p['name']} {p['version']}: {e}")
                        continue
                    if not hit:
                        continue
                    subject = f"{p['kind']}:{p['name']}"
                    if (subject, adv.id) in seen:
                        continue
                    seen.add((subject, adv.id))
                    finding, change = self.findings.observe(
                        kind="vulnerability", subject=subject, cause=adv.id,
                        severity=a.severity or adv.severity, host=host, now=now, actor=actor,
                        title=f"{p['name']} {p['version']} is affected by {adv.id}"
                              + (f" ({', '.join(adv.aliases)})" if adv.aliases else ""),
                        evidence={"package": p["name"], "ecosystem": p["kind"],
                                  "installed": p["version"], "advisory": adv.id,
                                  "aliases": adv.aliases, "summary": adv.summary,
                                  "cvss_score": adv.score, "cvss_vector": adv.vector,
                                  "fixed": fixed, "file": adv.file},
                    )  # fmt: skip
                    _count(report, finding, change)
        read = tuple(f"{k}:" for k in run["kinds"])
        if read:
            report["closed"] += [
                f["id"]
                for f in self.findings.close_absent(
                    "vulnerability", seen, subject_prefixes=read, now=now, actor=actor,
                    reason="no advisory matches the installed version any more",
                )
            ]  # fmt: skip

    def _harden(self, actor: str, now: datetime, report: dict[str, Any]) -> None:
        checks = hardening.load_checks()
        failures, errors, judged = hardening.run_checks(
            checks, self.settings.sshd_config, self.settings.tracked_paths
        )
        report["errors"] += errors
        seen = set()
        for f in failures:
            seen.add((f.subject, f.check))
            finding, change = self.findings.observe(
                kind="hardening", subject=f.subject, cause=f.check, severity=f.severity,
                title=f.title, evidence={"check": f.check, **f.evidence}, now=now, actor=actor,
            )  # fmt: skip
            _count(report, finding, change)
        report["closed"] += [
            f["id"]
            for f in self.findings.close_absent(
                "hardening", seen, causes=judged, now=now, actor=actor,
                reason="the check passes now",
            )
        ]  # fmt: skip

    def scans(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = query_dicts(self.store, "SELECT * FROM security_scans ORDER BY id DESC LIMIT ?",
                           [limit])  # fmt: skip
        for r in rows:
            r["skipped"], r["errors"] = json.loads(r["skipped"]), json.loads(r["errors"])
        return rows


def _count(report: dict[str, Any], finding: dict[str, Any], change: str) -> None:
    if change == "opened":
        report["opened"].append(finding["id"])
    elif change == "reopened":
        report["reopened"].append(finding["id"])
    elif change == "suppressed":
        report["suppressed"] += 1
    else:
        report["seen"] += 1
