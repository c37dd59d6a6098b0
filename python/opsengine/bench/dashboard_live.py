"""What the dashboard's live updates cost the server: requests/s and CPU per polling client.

Starts ``opsengine demo`` (its fleet keeps the store moving), signs in, then for each live
endpoint (the overview's tiles, priorities and host grid; the incident list) measures the
server process's CPU time while one client asks as fast as it can, minus the CPU the demo
spends over an idle window of the same length. A browser tab polls every 10 s, so one
client costs (CPU per request) / 10 s of a core.

    python -m opsengine.bench.dashboard_live [--seconds 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import psutil

POLL_S = 10.0
ENDPOINTS = ("/live/overview", "/incidents/live")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "opsengine.cli", "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        text = ""
        while "viewer token:" not in text:
            text += demo.stdout.readline()
        token = re.search(r"viewer token: (\S+)", text).group(1)
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = opener.open(f"{base}/login").read().decode()
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
        opener.open(
            f"{base}/login", urllib.parse.urlencode({"token": token, "_csrf": csrf}).encode()
        )
        time.sleep(30)  # let the backlog land: measure the steady state
        server = psutil.Process(demo.pid)
        for path in ENDPOINTS:
            rates, cpu_ms = [], []
            for _ in range(args.runs):
                idle0 = _cpu(server)
                time.sleep(args.seconds)
                idle = _cpu(server) - idle0
                n, cpu0, t0 = 0, _cpu(server), time.monotonic()
                while time.monotonic() - t0 < args.seconds:
                    opener.open(base + path).read()
                    n += 1
                busy, spent = _cpu(server) - cpu0, time.monotonic() - t0
                rates.append(n / spent)
                cpu_ms.append(1000 * max(0.0, busy - idle) / n)
            per_req = statistics.median(cpu_ms)
            print(
                f"{path}: {statistics.median(rates):.1f} requests/s (one client, closed loop), "
                f"{per_req:.1f} ms CPU per request; a tab polling every {POLL_S:.0f} s costs "
                f"{100 * per_req / 1000 / POLL_S:.2f} % of a core "
                f"(medians of {args.runs}: {', '.join(f'{c:.1f}' for c in cpu_ms)} ms)"
            )
    finally:
        demo.send_signal(2)
        demo.wait(60)


if __name__ == "__main__":
    main()
