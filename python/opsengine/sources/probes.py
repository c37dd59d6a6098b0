"""Uptime probes: HTTP(S) and TCP checks on an interval, their results in ``probe_results``,
failures and recoveries as alerts.

A check (``[[probes.check]]`` in opsengine.toml, or ``opsengine probe``) passes when the
HTTP status is the expected one (default: any 2xx/3xx), the body contains the expected text,
and the answer came within ``max_latency_ms``; a TCP check passes when the connection is
accepted. ``fail_after`` consecutive failures fire ``probe_down`` (labels service, target,
kind), the next pass resolves it. An HTTPS certificate that expires within ``cert_days``
fires ``probe_cert_expiring`` instead: the service is still up. Alert state survives a
restart: firing probe alerts are read back from the alerts service at start.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from opsengine.alerts import AlertChange, changes_table, fingerprint
from opsengine.sources.background import BackgroundLoop

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
MAX_CHECKS = 1_000
DOWN_RULE = "probe_down"
CERT_RULE = "probe_cert_expiring"
_USER_AGENT = "opsengine-probe/0.1"


@dataclass(frozen=True)
class ProbeCheck:
    """One configured check; build it with ``from_dict`` to get validation."""

    name: str
    kind: str  # http | tcp
    target: str  # the URL, or host:port
    interval_s: float = 30.0
    timeout_s: float = 5.0
    expect_status: int | None = None  # None: any 2xx or 3xx
    body_contains: str | None = None
    max_latency_ms: float | None = None
    cert_days: int | None = None  # https: alert when the certificate expires within
    ca_file: str | None = None  # https: trust this CA bundle (self-signed services)
    fail_after: int = 1  # consecutive failures before probe_down fires
    severity: str = "high"

    @classmethod
    def from_dict(cls, spec: dict[str, Any], *, where: str) -> ProbeCheck:
        """A check from ``{name, url | tcp, …}``; ValueError naming ``where`` and the key."""
        spec = dict(spec)
        url, tcp = spec.pop("url", None), spec.pop("tcp", None)
        if (url is None) == (tcp is None):
            raise ValueError(
                f"{where}: give exactly one of url = 'http(s)://…' or tcp = 'host:port'"
            )
        known = {f.name for f in fields(cls)} - {"kind", "target"}
        if unknown := sorted(set(spec) - known):
            raise ValueError(
                f"{where}: unknown key(s) {', '.join(unknown)} (known: url, tcp, "
                + ", ".join(sorted(known))
                + ")"
            )
        if url is not None:
            parts = urlsplit(str(url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{where}.url: expected an http:// or https:// URL, got {url!r}")
            kind, target = "http", str(url)
        else:
            host, sep, port = str(tcp).rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{where}.tcp: expected host:port, got {tcp!r}")
            kind, target = "tcp", str(tcp)
        name = str(spec.pop("name", target))
        if not name:
            raise ValueError(f"{where}.name: must not be empty")
        values: dict[str, Any] = {}
        for key, value in spec.items():
            values[key] = _typed(key, value, f"{where}.{key}")
        check = cls(name=name, kind=kind, target=target, **values)
        if check.interval_s < 1 or check.timeout_s <= 0 or check.timeout_s > 300:
            raise ValueError(f"{where}: interval_s must be >= 1 and timeout_s in (0, 300]")
        if check.fail_after < 1:
            raise ValueError(f"{where}.fail_after: must be >= 1")
        if check.severity not in ("critical", "high", "medium", "low", "info"):
            raise ValueError(f"{where}.severity: one of critical, high, medium, low, info")
        return check

    @property
    def labels(self) -> dict[str, str]:
        return {"service": self.name, "target": self.target, "kind": self.kind}


def _typed(key: str, value: Any, where: str) -> Any:
    try:
        if key in ("interval_s", "timeout_s", "max_latency_ms"):
            return float(value)
        if key in ("expect_status", "cert_days", "fail_after"):
            if isinstance(value, bool):
                raise TypeError
            return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected text, got {value!r}")
    return value


def checks_from_settings(cfg) -> list[ProbeCheck]:
    """The ``[[probes.check]]`` tables, with ``[probes]`` interval_s/timeout_s as defaults."""
    checks = []
    if len(cfg.check) > MAX_CHECKS:
        raise ValueError(f"probes.check: at most {MAX_CHECKS} checks, got {len(cfg.check)}")
    for i, spec in enumerate(cfg.check):
        where = f"probes.check[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: expected a table [[probes.check]], got {spec!r}")
        merged = {"interval_s": cfg.interval_s, "timeout_s": cfg.timeout_s, **spec}
        checks.append(ProbeCheck.from_dict(merged, where=where))
    names = [c.name for c in checks]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"probes.check: duplicate name(s) {', '.join(dup)}")
    return checks


@dataclass
class ProbeResult:
    ts: datetime
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    cert_days_left: float | None = None
    error: str | None = None


def _describe_error(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError | socket.timeout):
        return f"timeout after {timeout:g}s"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve host: {e.strerror or e}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {e.verify_message or e}"
    if isinstance(e, ssl.SSLError):
        return f"TLS error: {e.reason or e}"
    if isinstance(e, OSError):
        return e.strerror or str(e) or type(e).__name__
    return f"{type(e).__name__}: {e}"


def run_check(check: ProbeCheck, now: datetime | None = None) -> ProbeResult:
    """Run ``check`` once; never raises for the target's faults (they are the result)."""
    ts = now or datetime.now(UTC)
    started = time.perf_counter()
    try:
        if check.kind == "tcp":
            host, _, port = check.target.rpartition(":")
            with socket.create_connection((host.strip("[]"), int(port)), check.timeout_s):
                pass
            return ProbeResult(ts, True, latency_ms=(time.perf_counter() - started) * 1000)
        return _run_http(check, ts, started)
    except (OSError, http.client.HTTPException, ValueError) as e:
        return ProbeResult(
            ts,
            False,
            latency_ms=None,
            error=_describe_error(e, check.timeout_s),
        )


def _run_http(check: ProbeCheck, ts: datetime, started: float) -> ProbeResult:
    parts = urlsplit(check.target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=check.ca_file)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=check.timeout_s, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=check.timeout_s)
    try:
        conn.request("GET", path, headers={"User-Agent": _USER_AGENT, "Connection": "close"})
        cert_days = None
        if isinstance(conn.sock, ssl.SSLSocket):
            cert = conn.sock.getpeercert()
            if cert and cert.get("notAfter"):
                expires = ssl.cert_time_to_seconds(cert["notAfter"])
                cert_days = (expires - ts.timestamp()) / 86400
        resp = conn.getresponse()
        body = resp.read(MAX_BODY_BYTES)
        latency = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    result = ProbeResult(ts, True, resp.status, latency, cert_days)
    problems = []
    if check.expect_status is not None and resp.status != check.expect_status:
        problems.append(f"status {resp.status} (expected {check.expect_status})")
    elif check.expect_status is None and not 200 <= resp.status < 400:
        problems.append(f"status {resp.status}")
    if check.body_contains is not None and check.body_contains.encode() not in body:
        problems.append(f"body does not contain {check.body_contains!r}")
    if check.max_latency_ms is not None and latency > check.max_latency_ms:
        problems.append(f"slow: {latency:.1f} ms > {check.max_latency_ms:g} ms")
    if problems:
        result.ok, result.error = False, "; ".join(problems)
    return result


@dataclass
class _AlertState:
    failures: int = 0
    first_failure: datetime | None = None
    down_since: datetime | None = None  # active_since of the firing probe_down
    down_fired_at: datetime | None = None
    down_annotations: dict[str, str] = field(default_factory=dict)
    cert_since: datetime | None = None  # active_since of the firing probe_cert_expiring
    last: ProbeResult | None = None
    next_due: float = 0.0


class Prober(BackgroundLoop):
    """Runs ``checks`` on their intervals; stores results and publishes alert changes."""

    thread_name = "opsengine-probes"

    def __init__(self, store, alerts, checks: list[ProbeCheck], *, max_workers: int = 8) -> None:
        super().__init__()
        self.store = store
        self.alerts = alerts  # opsengine.alerts.AlertLog
        self.checks = checks
        self.max_workers = max_workers
        self.state = {c.name: _AlertState() for c in checks}
        self.runs = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._restore()

    def _restore(self) -> None:
        """Pick up probe alerts still firing from before a restart."""
        firing = self.alerts.current(state="firing").to_pylist()
        by_fp = {r["fingerprint"]: r for r in firing if r["source"] == "probe"}
        configured = set()
        for c in self.checks:
            configured |= {fingerprint(DOWN_RULE, c.labels), fingerprint(CERT_RULE, c.labels)}
        self._resolve_unconfigured([r for fp, r in by_fp.items() if fp not in configured])
        for c in self.checks:
            st = self.state[c.name]
            down = by_fp.get(fingerprint(DOWN_RULE, c.labels))
            if down is not None:
                st.down_since = down["active_since"]
                st.down_fired_at = down["fired_at"]
                st.down_annotations = dict(down["annotations"] or {})
                st.failures = c.fail_after
                st.first_failure = down["active_since"]
            cert = by_fp.get(fingerprint(CERT_RULE, c.labels))
            if cert is not None:
                st.cert_since = cert["active_since"]

    def _resolve_unconfigured(self, rows: list[dict]) -> None:
        """Firing alerts of checks no longer configured (removed, or their target changed)
        would otherwise fire forever: resolve them, saying why."""
        if not rows:
            return
        now = datetime.now(UTC)
        changes = [
            AlertChange(
                ts=now,
                rule=r["rule"],
                state="resolved",
                active_since=r["active_since"],
                fired_at=r["fired_at"],
                resolved_at=now,
                labels=dict(r["labels"] or {}),
                annotations={
                    **dict(r["annotations"] or {}),
                    "resolution": "the check is no longer configured",
                },
                value=r["value"],
                severity=r["severity"],
                category=r["category"],
                source="probe",
                fingerprint=r["fingerprint"],
            )
            for r in rows
        ]
        self.alerts.publish(changes_table(changes))

    # -- lifecycle -------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        down = [c.name for c in self.checks if self.state[c.name].down_since is not None]
        return {
            "where": f"{len(self.checks)} check(s)",
            "runs": self.runs,
            "down": down,
            "errors": self.errors,
        }

    def _loop(self) -> None:
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="opsengine-probe") as pool:
            while not self._stop.is_set():
                now = time.monotonic()
                due = [c for c in self.checks if self.state[c.name].next_due <= now]
                for c in due:
                    self.state[c.name].next_due = now + c.interval_s
                for c, result in zip(due, pool.map(run_check, due), strict=True):
                    self._record_safely(c, result)
                nxt = min(self.state[c.name].next_due for c in self.checks)
                self._stop.wait(max(0.05, nxt - time.monotonic()))

    def _record_safely(self, check: ProbeCheck, result: ProbeResult) -> None:
        try:
            self.record(check, result)
        except Exception:  # the store or a subscriber failed: the next run tries again
            self.errors += 1
            log.exception("probes: recording %s failed", check.name)

    # -- results -----------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> list[ProbeResult]:
        """Run every check now (in parallel), record them; the results in check order."""
        with ThreadPoolExecutor(self.max_workers) as pool:
            results = list(pool.map(lambda c: run_check(c, now), self.checks))
        for c, r in zip(self.checks, results, strict=True):
            self.record(c, r)
        return results

    def record(self, check: ProbeCheck, result: ProbeResult) -> None:
        """Store ``result`` and publish the alert changes it causes."""
        with self._lock:
            with self.store.transaction() as cur:
                cur.execute(
                    "INSERT INTO probe_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        result.ts,
                        check.name,
                        check.kind,
                        check.target,
                        result.ok,
                        result.status,
                        result.latency_ms,
                        result.cert_days_left,
                        result.error,
                    ],
                )
            self.runs += 1
            before = dataclasses.replace(self.state[check.name])
            changes = self._alert_changes(check, result)
            if changes:
                try:
                    self.alerts.publish(changes_table(changes))
                except Exception:
                    # Not published: forget the transition (the failure count stays), so
                    # the next result makes it again instead of believing the alert
                    # fired (or resolved) already.
                    st = self.state[check.name]
                    st.down_since, st.down_fired_at = before.down_since, before.down_fired_at
                    st.down_annotations, st.cert_since = before.down_annotations, before.cert_since
                    raise

    def _alert_changes(self, check: ProbeCheck, r: ProbeResult) -> list[AlertChange]:
        st = self.state[check.name]
        st.last = r
        out = []
        if r.ok:
            if st.down_since is not None:
                resolution = f"{check.name} is up again ({check.target})"
                out.append(
                    _change(check, r, DOWN_RULE, "resolved", st.down_since, st.down_fired_at,
                            check.severity, 0.0, {**st.down_annotations, "resolution": resolution})
                )  # fmt: skip
            st.failures, st.first_failure, st.down_since, st.down_fired_at = 0, None, None, None
        else:
            st.failures += 1
            st.first_failure = st.first_failure or r.ts
            if st.failures >= check.fail_after and st.down_since is None:
                st.down_since, st.down_fired_at = st.first_failure, r.ts
                st.down_annotations = {
                    "summary": f"{check.name} is down ({check.target}): {r.error}",
                    "error": r.error or "",
                }
                out.append(
                    _change(check, r, DOWN_RULE, "firing", st.down_since, r.ts,
                            check.severity, float(st.failures), st.down_annotations)
                )  # fmt: skip
        days = r.cert_days_left
        if check.cert_days is not None and days is not None:
            if days < check.cert_days and st.cert_since is None:
                st.cert_since = r.ts
                summary = (
                    f"the TLS certificate of {check.name} expires in {days:.1f} days "
                    f"(threshold {check.cert_days})"
                )
                out.append(
                    _change(check, r, CERT_RULE, "firing", r.ts, r.ts, "medium", days,
                            {"summary": summary})
                )  # fmt: skip
            elif days >= check.cert_days and st.cert_since is not None:
                summary = f"the TLS certificate of {check.name} was renewed"
                out.append(
                    _change(check, r, CERT_RULE, "resolved", st.cert_since, st.cert_since,
                            "medium", days, {"summary": summary})
                )  # fmt: skip
                st.cert_since = None
        return out


def _change(check, r, rule, state, active_since, fired_at, severity, value, annotations):
    """One probe alert change at the time of result ``r``."""
    return AlertChange(
        ts=r.ts,
        rule=rule,
        state=state,
        active_since=active_since,
        fired_at=fired_at,
        resolved_at=r.ts if state == "resolved" else None,
        severity=severity,
        value=value,
        labels=check.labels,
        annotations=annotations,
        source="probe",
        category="availability",
    )
