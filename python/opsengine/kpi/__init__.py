"""KPIs of operations, computed by the shipped named queries (``queries/``).

:func:`incident_kpis` gives MTTD, MTTA and MTTR (mean and median seconds), incident
and security-incident counts, and uptime per probed service for a range;
``opsengine query mttd|mtta|mttr|uptime|…`` runs the same SQL, so the API, the CLI and
the dashboard agree by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsengine.store import Store
from opsengine.store.queries import run_query

KPI_QUERIES = ("mttd", "mtta", "mttr")
UPTIME_FIELDS = ("service", "kind", "target", "checks", "passed", "uptime_percent",
                 "avg_latency_ms", "p95_latency_ms", "last_check", "last_ok")  # fmt: skip


def uptime_by_service(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per probed service, the checks in ``[start, end)`` (``probe_results``): how many ran
    and passed, uptime percent (passed / run), latency of the passing ones, the latest
    result. Least available first; services without a check in the range are absent."""
    rows = run_query(store, "uptime", {"from": start, "to": end}).to_pylist()
    return [{k: r[k] for k in UPTIME_FIELDS} for r in rows]


def incident_kpis(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """KPIs over incidents detected in ``[start, end)`` and probes run in it; times in
    seconds (None: no data); ``uptime`` as :func:`uptime_by_service`."""
    params = {"from": start, "to": end}
    out: dict[str, Any] = {"from": start, "to": end}
    for name in KPI_QUERIES:
        row = run_query(store, name, params).to_pylist()[0]
        out[name] = {
            "mean_seconds": row["mean_seconds"],
            "median_seconds": row["median_seconds"],
            "measured": row["incidents"] - row["waiting"],
        }
        out["incidents"] = row["incidents"]
    weeks = run_query(store, "security_incidents", params).to_pylist()
    out["security_incidents"] = sum(w["incidents"] for w in weeks)
    out["uptime"] = uptime_by_service(store, start, end)
    return out


__all__ = ["KPI_QUERIES", "incident_kpis", "uptime_by_service"]
