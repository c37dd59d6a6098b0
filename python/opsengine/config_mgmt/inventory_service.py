"""The inventory service: ``engine.inventory``. Software and hardware per host, with history,
and version policies checked against it as compliance results.

``collect()`` runs the collectors (:mod:`inventory`) and compares each kind it could read
with what the host had: new entries *appeared*, a different version or detail *changed*,
missing ones *went* — each a row in ``inventory_changes``, in one transaction with the
new state. A kind whose collector failed keeps its previous state (an unreadable status
file is not every package removed); the failure is recorded in ``inventory_runs``.

``check()`` judges every policy against every host's packages, stores the results in
``compliance_results`` and publishes ``version_policy_violation`` alerts (category
``config``) for violations, resolving those that ended.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from opsengine.alerts import AlertChange, changes_table
from opsengine.config_mgmt import inventory as collectors
from opsengine.config_mgmt.inventory import HARDWARE_KINDS, KINDS, SOFTWARE_KINDS, InventoryEntry
from opsengine.config_mgmt.models import POLICY_RULE, SEVERITIES, ConfigMgmtError
from opsengine.config_mgmt.policies import VersionPolicy
from opsengine.store.rows import fetch_dicts, query_dicts


def _now() -> datetime:
    return datetime.now(UTC)


class InventoryService:
    def __init__(self, store: Any, alerts: Any, settings: Any) -> None:
        self.store = store
        self.alerts = alerts
        self.settings = settings  # opsengine.config.InventorySettings
        self.host = socket.gethostname()
        self._lock = threading.RLock()

    # -- collecting --------------------------------------------------------------
    def collect(
        self,
        *,
        host: str | None = None,
        kinds: Iterable[str] | None = None,
        dpkg_status: str | None = None,
        python_paths: list[str] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Collect ``kinds`` (default all) for ``host`` (default this one) and store the changes."""
        kinds = tuple(kinds or KINDS)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ConfigMgmtError(f"kinds: unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
        host = host or self.host
        now = now or _now()
        readers: dict[str, Callable[[], list[InventoryEntry]]] = {
            "deb": lambda: collectors.dpkg_packages(dpkg_status or self.settings.dpkg_status),
            "python": lambda: collectors.python_distributions(
                python_paths or self.settings.python_paths or None
            ),
            "process": collectors.processes,
            "port": collectors.listening_ports,
        }
        found: dict[str, list[InventoryEntry]] = {}
        errors: list[str] = []
        if any(k in HARDWARE_KINDS for k in kinds):
            try:
                for e in collectors.hardware():
                    found.setdefault(e.kind, []).append(e)
            except (OSError, ValueError) as e:
                errors.append(f"hardware: {e}")
            for k in HARDWARE_KINDS:
                if k in kinds and not errors:
                    found.setdefault(k, [])
        for kind in kinds:
            if kind in readers:
                try:
                    found[kind] = readers[kind]()
                except (OSError, ValueError) as e:
                    errors.append(f"{kind}: {e}")
        found = {k: v for k, v in found.items() if k in kinds}
        with self._lock:
            changes = self._store(host, found, errors, now)
        return {"host": host, "ts": now, "kinds": sorted(found), "items": sum(map(len, found.values())),
                "changes": changes, "errors": errors}  # fmt: skip

    def _store(
        self, host: str, found: dict[str, list[InventoryEntry]], errors: list[str], now: datetime
    ) -> dict[str, int]:
        counts = {"appeared": 0, "changed": 0, "gone": 0}
        with self.store.transaction() as cur:
            for kind, entries in found.items():
                before = {
                    r["name"]: r
                    for r in fetch_dicts(
                        cur,
                        "SELECT name, version, detail FROM inventory_items WHERE host = ? AND kind = ?",
                        [host, kind],
                    )
                }
                rows, history = [], []
                seen = set()
                for e in entries:
                    detail = json.dumps(e.detail, sort_keys=True, default=str)
                    seen.add(e.name)
                    old = before.get(e.name)
                    if old is None:
                        history.append(
                            [now, host, kind, e.name, "appeared", None, e.version, None, detail]
                        )
                        rows.append([host, kind, e.name, e.version, detail, now, now])
                        counts["appeared"] += 1
                    elif old["version"] != e.version or old["detail"] != detail:
                        history.append([now, host, kind, e.name, "changed", old["version"],
                                        e.version, old["detail"], detail])  # fmt: skip
                        cur.execute(
                            "UPDATE inventory_items SET version = ?, detail = ? "
                            "WHERE host = ? AND kind = ? AND name = ?",
                            [e.version, detail, host, kind, e.name],
                        )
                        counts["changed"] += 1
                gone = [r for name, r in before.items() if name not in seen]
                for r in gone:
                    history.append([now, host, kind, r["name"], "gone", r["version"], None,
                                    r["detail"], None])  # fmt: skip
                    cur.execute(
                        "DELETE FROM inventory_items WHERE host = ? AND kind = ? AND name = ?",
                        [host, kind, r["name"]],
                    )
                counts["gone"] += len(gone)
                if rows:
                    cur.executemany(
                        "INSERT INTO inventory_items (host, kind, name, version, detail, first_seen,"
                        " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                cur.execute(
                    "UPDATE inventory_items SET last_seen = ? WHERE host = ? AND kind = ?",
                    [now, host, kind],
                )
                if history:
                    cur.executemany(
                        "INSERT INTO inventory_changes (ts, host, kind, name, change, old_version,"
                        " new_version, old_detail, new_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        history,
                    )
            cur.execute(
                "INSERT INTO inventory_runs (host, ts, kinds, items, errors) VALUES (?, ?, ?, ?, ?)",
                [host, now, json.dumps(sorted(found)), sum(map(len, found.values())),
                 json.dumps(errors)],
            )  # fmt: skip
        return counts

    # -- reading -------------------------------------------------------------------
    def _entries(
        self,
        kinds: tuple[str, ...],
        host: str | None,
        kind: str | None,
        after: tuple[str, str, str] | None,
        limit: int,
    ) -> list[dict]:
        if kind is not None and kind not in kinds:
            raise ConfigMgmtError(f"kind: expected one of {', '.join(kinds)}, got {kind!r}")
        wanted = (kind,) if kind else kinds
        sql = (
            "SELECT host, kind, name, version, detail, first_seen, last_seen FROM inventory_items "
            f"WHERE kind IN ({', '.join('?' * len(wanted))})"
        )
        params: list[Any] = list(wanted)
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        if after is not None:
            sql += " AND (host > ? OR (host = ? AND (kind > ? OR (kind = ? AND name > ?))))"
            params += [after[0], after[0], after[1], after[1], after[2]]
        rows = query_dicts(self.store, sql + " ORDER BY host, kind, name LIMIT ?", [*params, limit])
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    def software(
        self,
        host: str | None = None,
        kind: str | None = None,
        *,
        after: tuple[str, str, str] | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]:
        """Packages, processes and ports by (host, kind, name); ``after`` pages on."""
        return self._entries(SOFTWARE_KINDS, host, kind, after, limit)

    def hardware(
        self,
        host: str | None = None,
        kind: str | None = None,
        *,
        after: tuple[str, str, str] | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]:
        """CPU, memory, disks, file systems and NICs by (host, kind, name)."""
        return self._entries(HARDWARE_KINDS, host, kind, after, limit)

    def history(
        self, host: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """What appeared, changed or went, newest first."""
        where, params = [], []
        if host is not None:
            where.append("host = ?")
            params.append(host)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        sql = "SELECT * FROM inventory_changes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return query_dicts(self.store, sql + " ORDER BY ts DESC, host, kind, name LIMIT ?",
                           [*params, limit])  # fmt: skip

    def runs(self, host: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM inventory_runs", []
        if host is not None:
            sql, params = sql + " WHERE host = ?", [host]
        rows = query_dicts(self.store, sql + " ORDER BY ts DESC LIMIT ?", [*params, limit])
        for r in rows:
            r["kinds"], r["errors"] = json.loads(r["kinds"]), json.loads(r["errors"])
        return rows

    # -- policies -----------------------------------------------------------------
    def add_policy(
        self,
        expression: str,
        *,
        severity: str | None = None,
        actor: str = "api",
        origin: str = "api",
    ) -> dict[str, Any]:
        policy = VersionPolicy.parse(expression)
        severity = severity or self.settings.policy_severity
        if severity not in SEVERITIES:
            raise ConfigMgmtError(
                f"severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}"
            )
        with self._lock, self.store.transaction() as cur:
            cur.execute("DELETE FROM version_policies WHERE expression = ?", [policy.expression])
            cur.execute(
                "INSERT INTO version_policies (expression, severity, origin, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [policy.expression, severity, origin, actor, _now()],
            )
        return {"expression": policy.expression, "severity": severity, "origin": origin}

    def declare_policies(self, expressions: list[str]) -> None:
        """The policies of ``[inventory] policies``; an invalid one names its place."""
        for n, text in enumerate(expressions, 1):
            try:
                self.add_policy(text, actor="opsengine.toml", origin="config")
            except ConfigMgmtError as e:
                raise ConfigMgmtError(f"[inventory] policies #{n}: {e}") from None

    def remove_policy(self, expression: str) -> bool:
        with self._lock, self.store.transaction() as cur:
            found = cur.execute(
                "SELECT 1 FROM version_policies WHERE expression = ?", [expression.strip()]
            ).fetchone()
            cur.execute("DELETE FROM version_policies WHERE expression = ?", [expression.strip()])
            cur.execute("DELETE FROM compliance_results WHERE expression = ?", [expression.strip()])
        return bool(found)

    def policies(self) -> list[dict[str, Any]]:
        return query_dicts(self.store, "SELECT * FROM version_policies ORDER BY expression")

    def check(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Judge every policy on every host; store the results and publish violations."""
        now = now or _now()
        with self._lock:
            policies = [
                (VersionPolicy.parse(p["expression"]), p["severity"]) for p in self.policies()
            ]
            hosts = [r["host"] for r in query_dicts(
                self.store, "SELECT DISTINCT host FROM inventory_items WHERE kind IN ('deb', 'python')"
                " ORDER BY host")]  # fmt: skip
            results = []
            for policy, severity in policies:
                for host in hosts:
                    installed = self._installed(host, policy)
                    if not installed:
                        status, shown = "not_installed", None
                    else:
                        bad = [v for v in installed if not policy.allows(v)]
                        status = "violation" if bad else "compliant"
                        shown = ", ".join(bad or installed)
                    results.append({"expression": policy.expression, "host": host,
                                    "package": policy.package, "ecosystem": policy.ecosystem,
                                    "installed": shown, "status": status, "checked_at": now,
                                    "severity": severity})  # fmt: skip
            with self.store.transaction() as cur:
                cur.execute("DELETE FROM compliance_results")
                if results:
                    cur.executemany(
                        "INSERT INTO compliance_results (expression, host, package, ecosystem, "
                        "installed, status, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [[r["expression"], r["host"], r["package"], r["ecosystem"], r["installed"],
                          r["status"], now] for r in results],
                    )  # fmt: skip
            self._publish(results, now)
        return results

    def _installed(self, host: str, policy: VersionPolicy) -> list[str]:
        rows = query_dicts(
            self.store,
            "SELECT version FROM inventory_items WHERE host = ? AND kind = ? "
            "AND (name = ? OR name LIKE ?) ORDER BY name",
            # Debian names have no '_' or '%'; python ones are PEP 503 names: no LIKE escapes needed.
            [host, policy.kind, policy.package, policy.package + ":%"],
        )
        return [r["version"] for r in rows if r["version"]]

    def compliance(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT c.*, p.severity FROM compliance_results c "
            "JOIN version_policies p ON p.expression = c.expression"
        )
        params = []
        if status is not None:
            sql += " WHERE c.status = ?"
            params.append(status)
        return query_dicts(
            self.store, sql + " ORDER BY c.status DESC, c.expression, c.host", params
        )

    def _publish(self, results: list[dict[str, Any]], now: datetime) -> None:
        firing = {
            r["fingerprint"]: r
            for r in query_dicts(
                self.store,
                "SELECT fingerprint, rule, active_since, fired_at, labels, annotations, severity "
                "FROM alerts WHERE source = 'config' AND state = 'firing' AND rule = ?",
                [POLICY_RULE],
            )
        }
        want = {}
        for r in results:
            if r["status"] != "violation":
                continue
            c = AlertChange(
                ts=now, rule=POLICY_RULE, state="firing", active_since=now, fired_at=now,
                labels={"policy": r["expression"], "host": r["host"], "package": r["package"]},
                annotations={"summary": f"{r['package']} {r['installed']} on {r['host']} "
                                        f"violates '{r['expression']}'"},
                severity=r["severity"], category="config", source="config",
            )  # fmt: skip
            want[c.fingerprint] = c
        out = [c for fp, c in want.items() if fp not in firing]
        for fp, a in firing.items():
            if fp not in want:
                out.append(AlertChange(
                    ts=now, rule=POLICY_RULE, state="resolved", active_since=a["active_since"],
                    fired_at=a["fired_at"], resolved_at=now, labels=a["labels"],
                    annotations=a["annotations"], severity=a["severity"], category="config",
                    source="config", fingerprint=fp,
                ))  # fmt: skip
        if out:
            self.alerts.publish(changes_table(out))
