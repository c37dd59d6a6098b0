"""The simulated fleet: about 20 hosts in 4 services, sending what real hosts send through
the engine's real ingest paths: metric samples and log lines to the HTTP ingest endpoints,
sshd's lines over syslog (UDP). Nothing is written to the store directly.

On start it sends the last :data:`HISTORY` of the fleet's life (as an agent that was cut
off sends its backlog), so the metric rules, evaluated in event time, have the history
their ``for:`` clauses need; then it sends live traffic every :data:`TICK_S` seconds.

Scenarios, relative to the start (t0):

* CPU saturation: ``orders-api-3`` busy at 97 % from t0-28m to t0-14m (an incident that
  resolved), ``orders-api-2`` from t0-12m on (a live one).
* A disk filling up: ``pg-2``'s data volume grows 0.5 % a minute from 78 % (predicted
  full, then almost full).
* A service outage with recovery: the shop's health endpoint answers 503 for 30 s every
  15 minutes from t0+10s, the shop's web hosts log upstream errors meanwhile.
* An SSH brute force on ``shop-web-2`` from one address, every 10 minutes from t0+5s.
* A certificate near expiry: the payments TLS endpoint (see endpoints.py).
* Users write to the service desk (a ticket every 15 s), staff answer and solve them, the
  users rate the answers (CSAT) within an SLA policy; and someone edits a tracked nginx
  configuration by hand 20 s in, away from its approved baseline (config drift).
* On call: the simulated on-call engineer acknowledges each new P1 and P2 incident through
  the API (the others wait for whoever explores the dashboard).
"""

from __future__ import annotations

import json
import logging
import math
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("opsengine.demo")

HISTORY = timedelta(minutes=30)
STEP = timedelta(seconds=15)
TICK_S = 5.0
ACK_AFTER_S = 15.0
ACK_PRIORITIES = ("P1", "P2")  # what pages the on-call
OUTAGE_EVERY = timedelta(minutes=15)
OUTAGE_FOR = timedelta(seconds=30)
BRUTE_FORCE_EVERY = timedelta(minutes=10)
SERVICES = {
    "shop": ("shop-web", 5, "nginx"),
    "orders": ("orders-api", 5, "orders"),
    "postgres": ("pg", 5, "postgres"),
    "cache": ("cache", 5, "redis"),
}
GiB = 1 << 30
TICKET_EVERY_S = 15.0
SOLVE_AFTER_S = 10.0
DRIFT_AFTER_S = 20.0
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COMPLAINTS = (
    ("Checkout hangs after I press Pay", "The spinner keeps turning; I was charged once."),
    ("Cannot log in to my account", "It says my session expired, every time."),
    ("Order confirmation never arrived", "Order placed an hour ago, no mail yet."),
    ("Search shows no results for lamps", "Yesterday it listed twenty."),
)
NGINX_APPROVED = "worker_processes 8;\nkeepalive_timeout 65;\nclient_max_body_size 10m;\n"
NGINX_EDITED = "worker_processes 8;\nkeepalive_timeout 5;\nclient_max_body_size 512m;\n"


@dataclass(frozen=True)
class Host:
    name: str
    service: str
    app: str
    seed: int

    @property
    def labels(self) -> dict[str, str]:
        return {"service": self.service}


def fleet_hosts() -> list[Host]:
    return [
        Host(f"{prefix}-{i}", service, app, seed=n * 10 + i)
        for n, (service, (prefix, count, app)) in enumerate(SERVICES.items())
        for i in range(1, count + 1)
    ]


class Scenario:
    """What each host looks like at a time: the fleet's script, a pure function of time."""

    def __init__(self, t0: datetime) -> None:
        self.t0 = t0

    def minutes(self, ts: datetime) -> float:
        return (ts - self.t0).total_seconds() / 60

    def cpu(self, host: Host, ts: datetime) -> float:
        m = self.minutes(ts)
        if host.name == "orders-api-3" and -28 <= m < -14:
            return 96.0 + math.sin(m) * 1.5
        if host.name == "orders-api-2" and m >= -12:
            return 97.0 + math.sin(m * 3) * 1.2
        base = {"shop": 35, "orders": 40, "postgres": 30, "cache": 15}[host.service]
        return max(1.0, base + 8 * math.sin(m / 7 + host.seed) + random.uniform(-4, 4))

    def disk_used(self, host: Host, ts: datetime) -> float:
        if host.name == "pg-2":
            return min(99.5, 78.0 + 0.5 * (self.minutes(ts) + 30))
        return 40.0 + (host.seed % 7) * 3 + 0.001 * self.minutes(ts)

    def outage(self, ts: datetime) -> bool:
        since = ts - (self.t0 + timedelta(seconds=10))
        if since < timedelta(0):
            return False
        return (since % OUTAGE_EVERY) < OUTAGE_FOR

    def samples(self, host: Host, ts: datetime, boot: datetime) -> list[dict[str, Any]]:
        stamp = ts.isoformat()
        disk = {"mount": "/var/lib/data", "device": "/dev/sdb", "fstype": "ext4"}
        total = 500 * GiB
        used = self.disk_used(host, ts)
        rx = 2e6 * (1 + host.seed % 3) * (1.2 + math.sin(self.minutes(ts) / 5))
        rows = [
            ("cpu_usage_percent", self.cpu(host, ts), {}),
            ("cpu_count", 8.0, {}),
            ("load5", 1.0 + self.cpu(host, ts) / 25, {}),
            ("memory_used_percent", 55 + (host.seed % 5) * 5 + random.uniform(-1, 1), {}),
            ("disk_used_percent", used, disk),
            ("disk_total_bytes", float(total), disk),
            ("disk_free_bytes", total * (100 - used) / 100, disk),
            ("net_receive_bytes_per_second", rx, {"interface": "eth0"}),
            ("net_transmit_bytes_per_second", rx * 0.6, {"interface": "eth0"}),
            ("uptime_seconds", (ts - boot).total_seconds(), {}),
        ]
        return [
            {"name": n, "value": v, "ts": stamp, "host": host.name,
             "labels": {**host.labels, **extra}}
            for n, v, extra in rows
        ]  # fmt: skip

    def log_lines(self, host: Host, ts: datetime) -> list[str]:
        """A few lines a host writes around ``ts`` (ISO time, host, app[pid]: message)."""
        head = f"{ts.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z {host.name} {host.app}[{1000 + host.seed}]:"
        r = random.Random(f"{host.name}{ts.timestamp()}")
        if host.service == "shop":
            if self.outage(ts):
                return [f"{head} [error] upstream timed out (110: Connection timed out) while "
                        f"connecting to upstream, request: \"GET /checkout HTTP/1.1\""] * 3  # fmt: skip
            path = r.choice(("/", "/cart", "/product/42", "/search?q=lamp", "/checkout"))
            return [f'{head} 10.0.{r.randint(0, 9)}.{r.randint(2, 250)} "GET {path} HTTP/1.1" '
                    f"200 {r.randint(300, 9000)} {r.uniform(0.002, 0.09):.3f}"]  # fmt: skip
        if host.service == "orders":
            lines = [f"{head} level=info msg=\"order placed\" order_id={r.randint(10**5, 10**6)} "
                     f"ms={r.randint(8, 90)}"]  # fmt: skip
            if self.cpu(host, ts) > 90:
                lines.append(
                    f'{head} level=warning msg="request queue above 500" queue={r.randint(500, 900)}'
                )
            return lines
        if host.service == "postgres":
            if host.name == "pg-2" and self.disk_used(host, ts) > 90:
                return [f"{head} WARNING:  could not extend file \"base/16384/2619\": "
                        "wrote only 4096 of 8192 bytes"]  # fmt: skip
            if r.random() < 0.1:
                return [f"{head} ERROR:  deadlock detected"]
            return [f"{head} LOG:  checkpoint complete: wrote {r.randint(10, 900)} buffers"]
        return [
            f"{head} {r.randint(1, 9)}:M * {r.randint(100, 999)} changes in 60 seconds. Saving..."
        ]

    def brute_force(self, ts: datetime) -> bool:
        since = ts - (self.t0 + timedelta(seconds=5))
        return since >= timedelta(0) and (since % BRUTE_FORCE_EVERY) < timedelta(seconds=25)


class Fleet:
    """Sends the fleet's traffic to a running engine until :meth:`stop`."""

    def __init__(
        self,
        base_url: str,
        ingest_token: str,
        oncall_token: str,
        syslog: tuple[str, int] | None,
        shop: Any = None,
        *,
        workdir: Path | None = None,
        t0: datetime | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.ingest_token = ingest_token
        self.oncall_token = oncall_token
        self.syslog = syslog
        self.shop = shop
        self.workdir = workdir
        self.scenario = Scenario(t0 or datetime.now(UTC))
        self.hosts = fleet_hosts()
        self.boot = {h.name: self.scenario.t0 - timedelta(days=3 + h.seed % 20) for h in self.hosts}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = {"samples": 0, "lines": 0, "syslog": 0, "acks": 0, "tickets": 0}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Fleet:
        for name, target in (
            ("demo-fleet", self._run),
            ("demo-oncall", self._oncall),
            ("demo-desk", self._desk),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.shop is not None:
            self.shop.down = False
        for t in self._threads:
            t.join(15)

    # -- traffic -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._backfill()
            while not self._stop.is_set():
                started = time.monotonic()
                self._tick(datetime.now(UTC))
                self._stop.wait(max(0.0, TICK_S - (time.monotonic() - started)))
        except _Stopped:
            pass
        except Exception:
            log.exception("the demo fleet stopped sending")

    def _backfill(self) -> None:
        """The last HISTORY, oldest first, two minutes of the fleet a request."""
        ts = self.scenario.t0 - HISTORY
        while ts < self.scenario.t0 and not self._stop.is_set():
            samples: list[dict[str, Any]] = []
            records: list[dict[str, str]] = []
            window_end = min(ts + timedelta(minutes=2), self.scenario.t0)
            while ts < window_end:
                for h in self.hosts:
                    samples += self.scenario.samples(h, ts, self.boot[h.name])
                    if ts.second == 0:  # the backlog of logs: a line a minute a host
                        records += self._records(h, ts)
                ts += STEP
            self._post_metrics(samples)
            if records:
                self._post_logs(records)

    def _tick(self, now: datetime) -> None:
        if self.shop is not None:
            self.shop.down = self.scenario.outage(now)
        samples: list[dict[str, Any]] = []
        records: list[dict[str, str]] = []
        for h in self.hosts:
            samples += self.scenario.samples(h, now, self.boot[h.name])
            records += self._records(h, now)
        self._post_metrics(samples)
        self._post_logs(records)
        if self.scenario.brute_force(now):
            self._brute_force(now)

    def _records(self, host: Host, ts: datetime) -> list[dict[str, str]]:
        return [{"line": line, "host": host.name, "source": f"demo/{host.service}"}
                for line in self.scenario.log_lines(host, ts)]  # fmt: skip

    def _brute_force(self, now: datetime) -> None:
        if self.syslog is None:
            return
        attempt = int(now.timestamp()) // int(BRUTE_FORCE_EVERY.total_seconds())
        address = f"198.51.100.{23 + attempt % 200}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(6):
                stamp = f"{now:%b} {now.day:>2} {now:%H:%M:%S}"  # RFC 3164: "Dec  7"
                user = ("admin", "root", "oracle", "ubuntu", "test", "git")[i]
                message = (f"<38>{stamp} shop-web-2 sshd[{7000 + i}]: Failed password for "
                           f"invalid user {user} from {address} port {40000 + i} ssh2")  # fmt: skip
                sock.sendto(message.encode(), self.syslog)
                self.sent["syslog"] += 1

    # -- on call -----------------------------------------------------------------------
    def _oncall(self) -> None:
        """Acknowledge each P1/P2 incident a little after it is detected, as the on-call would."""
        while not self._stop.wait(TICK_S):
            try:
                page = self._request("GET", "/api/v1/incidents?state=triggered&limit=100",
                                     token=self.oncall_token)  # fmt: skip
            except _Stopped:
                return
            except OSError as e:
                log.debug("on-call: cannot list incidents: %s", e)
                continue
            now = datetime.now(UTC)
            for inc in page.get("items", []):
                if inc["priority"] not in ACK_PRIORITIES:
                    continue
                detected = datetime.fromisoformat(inc["detected_at"].replace("Z", "+00:00"))
                seen_for = (now - max(detected, self.scenario.t0)).total_seconds()
                if seen_for < ACK_AFTER_S:
                    continue
                try:
                    self._request("POST", f"/api/v1/incidents/{inc['id']}/acknowledge",
                                  token=self.oncall_token, body=b"")  # fmt: skip
                    self.sent["acks"] += 1
                except OSError as e:
                    log.debug("on-call: cannot acknowledge %s: %s", inc["id"], e)

    # -- users, the service desk and a hand-edited configuration ----------------------
    def _desk(self) -> None:
        try:
            desk = self._setup_desk()
            nginx = self._track_config()
            opened: list[tuple[float, int]] = []
            next_ticket, n = time.monotonic(), 0
            started = time.monotonic()
            while not self._stop.wait(1.0):
                now = time.monotonic()
                if nginx is not None and now - started >= DRIFT_AFTER_S:
                    nginx.write_text(NGINX_EDITED)
                    self._request("POST", "/api/v1/config/snapshot",
                                  body=json.dumps({"name": "nginx"}).encode(),
                                  content_type="application/json")  # fmt: skip
                    nginx = None
                if not desk:
                    continue
                if now >= next_ticket:
                    opened.append((now, self._open_ticket(n)))
                    n, next_ticket = n + 1, now + TICKET_EVERY_S
                while opened and now - opened[0][0] >= SOLVE_AFTER_S:
                    self._solve_and_rate(opened.pop(0)[1])
        except _Stopped:
            pass
        except OSError as e:
            log.warning("the demo's users stopped: %s", e)

    def _setup_desk(self) -> bool:
        """A 24x7 calendar and an SLA policy for the support queue; False without a desk."""
        calendar = {"timezone": "UTC", "hours": {d: ["00:00-24:00"] for d in WEEK}}
        policy = {"calendar": "always", "queues": ["support"],
                  "targets": {"P3": {"first_response": "30m", "resolution": "4h"},
                              "P2": {"first_response": "15m", "resolution": "2h"}}}  # fmt: skip
        try:
            self._request("PUT", "/api/v1/calendars/always", body=json.dumps(calendar).encode(),
                          content_type="application/json")  # fmt: skip
        except OSError as e:
            if "HTTP 404" in str(e) or "HTTP 405" in str(e):
                return False  # this engine has no service desk
            raise
        self._request("PUT", "/api/v1/sla-policies/standard", body=json.dumps(policy).encode(),
                      content_type="application/json")  # fmt: skip
        return True

    def _open_ticket(self, n: int) -> int:
        subject, text = COMPLAINTS[n % len(COMPLAINTS)]
        ticket = {"subject": subject, "description": text, "queue": "support",
                  "priority": "P2" if n % 4 == 0 else "P3",
                  "requester": {"name": f"Customer {n + 1}", "email": f"customer{n + 1}@example.com"}}  # fmt: skip
        made = self._request("POST", "/api/v1/tickets", body=json.dumps(ticket).encode(),
                             content_type="application/json", token=self.oncall_token)  # fmt: skip
        self.sent["tickets"] += 1
        return made["id"]

    def _solve_and_rate(self, ticket_id: int) -> None:
        def post(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
            return self._request("POST", path, body=json.dumps(body).encode(),
                                 content_type="application/json",
                                 token=token or self.oncall_token)  # fmt: skip

        post(f"/api/v1/tickets/{ticket_id}/replies",
             {"body": "Thanks for telling us. We found the cause and fixed it; please try again."})  # fmt: skip
        post(f"/api/v1/tickets/{ticket_id}/status", {"status": "solved"})
        link = self._request("GET", f"/api/v1/tickets/{ticket_id}/survey", token=self.oncall_token)
        rating = random.Random(ticket_id).choice((5, 5, 4, 4, 3, 2))
        post(link["path"], {"rating": rating, "comment": "works again" if rating > 3 else "slow"})

    def _track_config(self) -> Path | None:
        """nginx.conf tracked and its first version approved; None without config tracking."""
        if self.workdir is None:
            return None
        conf = self.workdir / "nginx.conf"
        conf.write_text(NGINX_APPROVED)
        item = {"name": "nginx", "paths": [str(conf)], "env": "prod", "host": "shop-web-1"}
        try:
            self._request("POST", "/api/v1/config/items", body=json.dumps(item).encode(),
                          content_type="application/json")  # fmt: skip
        except OSError as e:
            if "HTTP 404" in str(e) or "HTTP 405" in str(e):
                return None
            raise
        self._request("POST", "/api/v1/config/snapshot", body=json.dumps({"name": "nginx"}).encode(),
                      content_type="application/json")  # fmt: skip
        self._request("POST", "/api/v1/config/items/nginx/approve", body=b"{}",
                      content_type="application/json", token=self.oncall_token)  # fmt: skip
        return conf

    # -- HTTP --------------------------------------------------------------------------
    def _post_metrics(self, samples: list[dict[str, Any]]) -> None:
        body = json.dumps({"samples": samples}).encode()
        self._request("POST", "/api/v1/ingest/metrics", body=body, content_type="application/json")
        self.sent["samples"] += len(samples)

    def _post_logs(self, records: list[dict[str, str]]) -> None:
        body = "\n".join(json.dumps(r) for r in records).encode()
        self._request("POST", "/api/v1/ingest/logs", body=body,
                      content_type="application/x-ndjson")  # fmt: skip
        self.sent["lines"] += len(records)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token or self.ingest_token}"}
        if content_type:
            headers["Content-Type"] = content_type
        for _ in range(10):
            if self._stop.is_set():
                raise _Stopped
            request = urllib.request.Request(self.base + path, body, headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    data = response.read()
                    return json.loads(data) if data else {}
            except urllib.error.HTTPError as e:
                if e.code in (429, 503):  # back-pressure: wait as told, then send again
                    self._stop.wait(float(e.headers.get("Retry-After", "1")))
                    continue
                raise OSError(f"{method} {path}: HTTP {e.code}: {e.read()[:300]!r}") from None
        raise OSError(f"{method} {path}: still refused after 10 tries")


class _Stopped(Exception):
    pass
