"""``opsengine demo``: the main job (``opsengine.run.run``) with the simulated fleet.

The demo's settings are ``opsengine run``'s with: the store at ``--db`` (a fresh temporary
folder by default), syslog on a free port of 127.0.0.1, no file tailing (the fleet is the
data), and two probes: the shop's health endpoint (which has outages) and the payments TLS
endpoint (whose certificate expires in 5 days). Once the server listens it makes a viewer,
an admin and an on-call (operator) key, prints the URL and the first two tokens, and starts
the fleet. Ctrl-C stops the fleet, then the engine as ``opsengine run`` does.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from opsengine.config import Settings
from opsengine.demo.endpoints import ShopEndpoint, TlsEndpoint
from opsengine.demo.fleet import Fleet, fleet_hosts

CERT_DAYS = 5
CERT_WARN_DAYS = 14


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_settings(settings: Settings, shop: ShopEndpoint, tls: TlsEndpoint) -> Settings:
    settings.files.enabled = False
    settings.host.enabled = False  # the fleet is the data; this machine would be a 21st host
    settings.syslog.enabled = True
    settings.syslog.listen = f"127.0.0.1:{_free_udp_port()}"
    settings.syslog.tcp = False
    settings.syslog.flush_ms = 500
    settings.probes.check = [
        {"name": "shop", "url": shop.url, "interval_s": 5, "timeout_s": 2, "fail_after": 2,
         "severity": "critical"},
        {"name": "payments", "url": tls.url, "interval_s": 10, "timeout_s": 3,
         "cert_days": CERT_WARN_DAYS, "ca_file": str(tls.cert)},
    ]  # fmt: skip
    return settings


class DemoCompanion:
    """Started by ``run`` once the server listens: keys, the banner, the fleet."""

    def __init__(self, settings: Settings, shop: ShopEndpoint, out: TextIO) -> None:
        self.settings = settings
        self.shop = shop
        self.out = out
        self.fleet: Fleet | None = None

    def __call__(self, services: Any, port: int) -> DemoCompanion:
        keys = services.keys
        viewer = keys.create("viewer", "demo viewer", created_by="demo").token
        admin = keys.create("admin", "demo admin", created_by="demo").token
        oncall = keys.create("operator", "demo on-call", created_by="demo").token
        host, _, udp = self.settings.syslog.listen.rpartition(":")
        url = f"http://{self.settings.api.host}:{port}"
        workdir = Path(self.settings.db).resolve().parent
        self.fleet = Fleet(url, admin, oncall, (host, int(udp)), self.shop, workdir=workdir).start()
        hosts = fleet_hosts()
        lines = [
            "",
            f"opsengine demo: {len(hosts)} simulated hosts in 4 services are sending metrics and",
            "logs through the ingest API and syslog; the overview fills within a minute.",
            f"  dashboard:    {url}/   (sign in with a token below)",
            f"  viewer token: {viewer}",
            f"  admin token:  {admin}",
            "  scenarios:    CPU saturation (orders-api-2, -3), disk filling (pg-2), shop outage",
            "                every 15 min, SSH brute force (shop-web-2), payments certificate",
            f"                expiring in {CERT_DAYS} days, customer tickets rated after solving,",
            "                a hand-edited nginx.conf drifting from its approved version",
            "Ctrl-C stops the fleet and the engine.",
        ]
        print("\n".join(lines), file=self.out, flush=True)
        return self

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()


def run_demo(settings: Settings, *, out: TextIO = sys.stdout) -> None:
    """Run the demo until SIGINT/SIGTERM (RunError and the engine's errors as ``run``)."""
    from opsengine.run import run

    if not settings.db:
        settings.db = str(Path(tempfile.mkdtemp(prefix="opsengine-demo-")) / "demo.duckdb")
    folder = Path(settings.db).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    shop, tls = ShopEndpoint(), TlsEndpoint(folder, days=CERT_DAYS)
    try:
        demo_settings(settings, shop, tls)
        run(settings, out=out, companion=DemoCompanion(settings, shop, out))
    finally:
        shop.close()
        tls.close()
