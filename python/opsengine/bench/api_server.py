"""HTTP API capacity: granian vs uvicorn serving the real app, measured with wrk on loopback.

Starts ``opsengine run --server S --port 0`` on a fresh store for each server, takes the
admin token from its output, seeds 20,000 loghub lines, then runs wrk (``-t2 -c64``)
against: ``GET /health`` (no auth), ``GET /api/v1/logs?limit=50`` (auth + DuckDB read),
``POST /api/v1/ingest/logs`` with 100 lines, and with 10,000 lines over 4 connections
(lines/s into the store, rules matched). Prints a Markdown table; ``--out FILE`` also writes JSON.

    python -m opsengine.bench.api_server [--seconds 10] [--servers granian,uvicorn] [--out results.json]

Needs ``wrk`` (Debian: apt-get install wrk) and the loghub corpus at ../shared/data/loghub.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the checkout: python/opsengine/bench/ → root
LOGHUB = Path(os.environ.get("OPSENGINE_LOGHUB", ROOT.parent / "shared" / "data" / "loghub"))

_POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["Authorization"] = "Bearer {token}"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""
_GET_LUA = """
wrk.headers["Authorization"] = "Bearer {token}"
"""


def _corpus_lines() -> list[bytes]:
    lines: list[bytes] = []
    for folder in sorted(LOGHUB.iterdir()):
        for f in folder.glob("*_2k.log"):
            lines += f.read_bytes().splitlines()
    if not lines:
        sys.exit(f"no loghub corpus at {LOGHUB}")
    return lines


def start_server(server: str, workdir: Path) -> tuple[subprocess.Popen, str, str]:
    env = dict(os.environ, OPSENGINE_API_RATE_LIMIT="0", OPSENGINE_FILES_ENABLED="false",
               OPSENGINE_SYSLOG_ENABLED="false", OPSENGINE_HOST_ENABLED="false")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsengine.cli", "run", "--server", server, "--port", "0",
         "--db", str(workdir / f"{server}.duckdb")],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    url = token = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.search(r"api:\s+(http://[\d.]+:\d+)", line):
            url = m.group(1)
        if m := re.search(r"admin token: (\S+)", line):
            token = m.group(1)
        if line.startswith("Ctrl-C"):
            break
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, url, token


def _wrk(
    url: str, seconds: int, script: str | None, workdir: Path, name: str, connections: int = 64
) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        path = workdir / f"{name}.lua"
        path.write_text(script)
        cmd += ["-s", str(path)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> str:
        m = re.search(rf"\s{p}%\s+([\d.]+\w+)", out)
        return m.group(1) if m else "?"

    return {"rps": rps, "p50": pct("50"), "p99": pct("99"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}  # fmt: skip


def measure(server: str, seconds: int, lines: list[bytes], workdir: Path) -> dict:
    proc, url, token = start_server(server, workdir)
    try:
        seed = b"\n".join(lines[:20_000])
        req = urllib.request.Request(
            url + "/api/v1/ingest/logs?source=seed", data=seed, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        )  # fmt: skip
        urllib.request.urlopen(req).read()
        small = workdir / "100.txt"
        small.write_bytes(b"\n".join(lines[:100]))
        big = workdir / "10k.txt"
        big.write_bytes(b"\n".join(lines[:10_000]))
        get_lua = _GET_LUA.format(token=token)
        results = {
            "GET /health": _wrk(url + "/health", seconds, None, workdir, "health"),
            "GET /api/v1/logs?limit=50": _wrk(
                url + "/api/v1/logs?limit=50", seconds, get_lua, workdir, "logs"
            ),
            "POST 100 lines": _wrk(
                url + "/api/v1/ingest/logs?source=wrk",
                seconds,
                _POST_LUA.format(token=token, body=small),
                workdir,
                "post100",
            ),
            "POST 10,000 lines": _wrk(
                url + "/api/v1/ingest/logs?source=wrk",
                seconds,
                _POST_LUA.format(token=token, body=big),
                workdir,
                "post10k",
                connections=4,
            ),
        }
        results["POST 10,000 lines"]["lines_per_s"] = results["POST 10,000 lines"]["rps"] * 10_000
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--servers", default="granian,uvicorn")
    parser.add_argument("--out")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    lines = _corpus_lines()
    all_results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for server in args.servers.split(","):
            all_results[server] = measure(server, args.seconds, lines, Path(tmp))
    print("| server | request | req/s | p50 | p99 | non-2xx |")
    print("|---|---|---:|---:|---:|---:|")
    for server, results in all_results.items():
        for name, r in results.items():
            extra = f" ({r['lines_per_s']:,.0f} lines/s)" if "lines_per_s" in r else ""
            print(f"| {server} | {name} | {r['rps']:,.0f}{extra} | {r['p50']} | {r['p99']} "
                  f"| {r['non_2xx']} |")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(all_results, indent=2))


if __name__ == "__main__":
    main()
