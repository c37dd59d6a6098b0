"""``GET /api/v1/incidents?limit=50`` on a store with 100,000 incidents, measured with wrk.

Issue 6's target: p99 under 20 ms at 500 requests/s on loopback against ``opsengine run``
(granian, one worker). Seeds the incidents into a fresh store in one ``INSERT … SELECT``
over ``range()`` (recent ones open, older ones resolved or closed; 50 services, 500 hosts,
2,000 fingerprints; some share a ``detected_at`` so the id tie-break is exercised), starts
the server (helpers from ``python/opsengine/bench/api_server.py``), waits until ``/health`` says the
incident index is loaded, then runs wrk ``--runs`` times per connection count and prints
the medians: closed-loop (each connection sends as soon as it has its answer) at each of
``--connections``, and paced near ``--rate`` (wrk2 ``-R`` when installed; plain wrk has no
rate option, so 16 connections each wait ``16/rate - p50`` between requests through wrk's
Lua ``delay()`` hook; the rate reached is printed beside the latencies).

    python -m opsengine.bench.api_incidents [--incidents 100000] [--seconds 10] [--runs 3]
                                    [--connections 8,64] [--rate 500] [--no-index] [--out FILE]

``--no-index`` sets ``OPSENGINE_INCIDENTS_MEMORY_INDEX=false``: every page is a DuckDB query.
The per-key rate limit is off for the run (the default, 200/s per key, would answer 429).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from opsengine.bench.api_server import start_server

PACED_CONNECTIONS = 16

SEED = """
INSERT INTO incidents
SELECT i, fp, 'rule_' || (hash(fp) % 97)::VARCHAR, 'Incident ' || i::VARCHAR || ' on ' || host,
  ['outage', 'degraded performance', 'error', 'security breach', 'config'][1 + i % 5],
  ['high', 'medium', 'low'][1 + impact], ['high', 'medium', 'low'][1 + urgency],
  'P' || (1 + impact + urgency)::VARCHAR,
  CASE WHEN i > $n - $open THEN ['triggered', 'acknowledged'][1 + i % 2]
       ELSE ['resolved', 'closed'][1 + i % 2] END,
  CASE WHEN i % 4 = 0 THEN NULL ELSE 'svc-' || ((i * 13) % 50)::VARCHAR END, host,
  MAP(['alertname', 'env', 'host'], ['rule_' || (hash(fp) % 97)::VARCHAR, 'prod', host]),
  CASE WHEN i % 3 = 0 THEN 'oncall-' || (i % 7)::VARCHAR END,
  1 + i % 4, true, 0, false, NULL, NULL,
  ts - INTERVAL 2 MINUTE, ts,
  CASE WHEN i % 2 = 0 THEN ts + INTERVAL 5 MINUTE END,
  CASE WHEN i <= $n - $open THEN ts + INTERVAL 30 MINUTE END,
  CASE WHEN i <= $n - $open AND i % 2 = 0 THEN ts + INTERVAL 1 DAY END,
  ts + INTERVAL 10 MINUTE, ts + INTERVAL 30 MINUTE
FROM (
  SELECT i, 'fp' || lpad(((i * 7919) % 2000)::VARCHAR, 4, '0') AS fp,
    'host-' || ((i * 31) % 500)::VARCHAR AS host, (i // 5) % 3 AS impact, (i // 15) % 3 AS urgency,
    -- one incident a minute; every 7th shares the minute of the one before it
    TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_seconds((i - i // 7) * 60) AS ts
  FROM range(1, $n + 1) t(i)
)
"""


def seed(db: Path, incidents: int) -> float:
    """Write ``incidents`` rows into a fresh store at ``db``; returns the seconds it took."""
    from opsengine.store import Store

    started = time.perf_counter()
    with Store(db) as store, store.transaction() as cur:
        cur.execute(SEED, {"n": incidents, "open": min(2_000, incidents // 10)})
    return time.perf_counter() - started


def wait_for_index(url: str, timeout: float = 300.0) -> dict:
    """Poll ``/health`` until the incident index is loaded; returns its status."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            status = json.load(r)["components"].get("incident_index", {})
        detail = status.get("detail", {})
        if detail.get("state") != "loading" or time.monotonic() > deadline:
            return detail
        time.sleep(0.2)


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def run_wrk(
    url: str, token: str, seconds: int, connections: int, workdir: Path, *,
    rate: int | None = None, delay_ms: float = 0.0,
) -> dict:  # fmt: skip
    """One wrk run: closed-loop, or paced (``rate`` with wrk2, else ``delay_ms`` per request)."""
    script = workdir / "auth.lua"
    lua = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    wrk2 = shutil.which("wrk2") if rate else None
    if rate and not wrk2:
        lua += f"function delay()\n  return {delay_ms:.0f}\nend\n"
    script.write_text(lua)
    cmd = [wrk2 or "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if wrk2:
        cmd += ["-R", str(rate)]
    out = subprocess.run([*cmd, "-s", str(script), url], capture_output=True, text=True, check=True)
    text = out.stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    pct = {p: re.search(rf"\s{p}(?:\.0+)?%\s+([\d.]+\w+)", text) for p in ("50", "99")}
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50_ms": _ms(pct["50"].group(1)) if pct["50"] else float("nan"),
        "p99_ms": _ms(pct["99"].group(1)) if pct["99"] else float("nan"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "tool": "wrk2" if wrk2 else "wrk",
    }


def _summary(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p99_ms", "non_2xx")
    return {"median": {k: statistics.median(r[k] for r in runs) for k in keys}, "each": runs}


def measure(args: argparse.Namespace, workdir: Path) -> dict:
    db = workdir / "granian.duckdb"  # the name api_server.start_server opens for granian
    seconds_to_seed = seed(db, args.incidents)
    if args.no_index:
        os.environ["OPSENGINE_INCIDENTS_MEMORY_INDEX"] = "false"
    proc, url, token = start_server("granian", workdir)
    try:
        started = time.monotonic()
        index = wait_for_index(url)
        index_seconds = time.monotonic() - started
        target = url + "/api/v1/incidents?limit=50"
        check = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(check) as r:
            page = json.load(r)
        if len(page["items"]) != 50 or not page["next_cursor"]:
            sys.exit(f"unexpected first page: {len(page['items'])} items")
        results: dict = {
            "incidents": args.incidents,
            "seed_s": round(seconds_to_seed, 2),
            "index": index,
            "index_wait_s": round(index_seconds, 2),
            "load_before": os.getloadavg(),
            "runs": {},
        }
        for connections in args.connections:
            runs = [
                run_wrk(target, token, args.seconds, connections, workdir) for _ in range(args.runs)
            ]
            results["runs"][f"{connections} closed-loop"] = _summary(runs)
        if args.rate:
            p50 = results["runs"][f"{args.connections[0]} closed-loop"]["median"]["p50_ms"]
            delay = max(0.0, 1000 * PACED_CONNECTIONS / args.rate - p50)
            runs = [
                run_wrk(target, token, args.seconds, PACED_CONNECTIONS, workdir,
                        rate=args.rate, delay_ms=delay)
                for _ in range(args.runs)
            ]  # fmt: skip
            results["runs"][f"{PACED_CONNECTIONS} paced ~{args.rate}/s"] = _summary(runs)
        results["load_after"] = os.getloadavg()
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", default="8,64")
    parser.add_argument("--rate", type=int, default=500, help="paced run's rate; 0: none")
    parser.add_argument("--no-index", action="store_true", help="lists read DuckDB")
    parser.add_argument("--out")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    if not shutil.which("wrk") and not shutil.which("wrk2"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args, Path(tmp))
    load = ", ".join(f"{x:.2f}" for x in results["load_before"])
    print(
        f"GET /api/v1/incidents?limit=50 — {results['incidents']:,} incidents "
        f"(seeded in {results['seed_s']} s; index {results['index'].get('state', 'off')} after "
        f"{results['index_wait_s']} s); load average before: {load}"
    )
    print(f"| wrk -t1 | tool | req/s | p50 ms | p99 ms | non-2xx |  (median of {args.runs} runs)")
    print("|---:|---|---:|---:|---:|---:|")
    for connections, r in results["runs"].items():
        m = r["median"]
        print(
            f"| {connections} | {r['each'][0]['tool']} | {m['rps']:,.0f} | {m['p50_ms']:.2f} "
            f"| {m['p99_ms']:.2f} | {m['non_2xx']:.0f} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
