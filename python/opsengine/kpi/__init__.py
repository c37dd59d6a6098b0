"""KPIs of operations, computed by the shipped named queries (``queries/``).

:func:`incident_kpis` gives MTTD, MTTA and MTTR (mean and median seconds), incident
and security-incident counts, security findings opened and closed per week and their
mean time to mitigate, uptime per probed service, and user satisfaction (CSAT) and
SLA compliance of the service desk for a range;
``opsengine query mttd|mtta|mttr|uptime|…`` runs the same SQL, so the API, the CLI and
the dashboard agree by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsengine.store import Store
from opsengine.store.named_queries import run_query

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
    out["security_findings_by_week"] = run_query(store, "security_findings_by_week",
                                                  params).to_pylist()  # fmt: skip
    out["mean_time_to_mitigate"] = run_query(store, "mean_time_to_mitigate", params).to_pylist()
    out["uptime"] = uptime_by_service(store, start, end)
    out["user_satisfaction"] = user_satisfaction(store, start, end)
    return out


def user_satisfaction(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """CSAT over the surveys requested in ``[start, end)`` (the ``csat`` named query, all
    queues together): surveys sent and answered, percent of 4–5 ratings, average rating;
    and the tickets' SLA compliance (``sla_compliance``) in percent over the same range."""
    params = {"from": start, "to": end, "period": "month"}
    rows = run_query(store, "csat", params).to_pylist()
    surveys = sum(r["surveys"] for r in rows)
    answered = sum(r["answered"] for r in rows)
    satisfied = sum(round(r["satisfied_percent"] * r["answered"] / 100) for r in rows
                    if r["satisfied_percent"] is not None)  # fmt: skip
    ratings = sum(r["average_rating"] * r["answered"] for r in rows if r["answered"])
    sla = run_query(store, "sla_compliance", {**params, "period": "month"}).to_pylist()
    met = sum(r["resolution_met"] + r["first_response_met"] for r in sla)
    breached = sum(r["resolution_breached"] + r["first_response_breached"] for r in sla)
    return {
        "surveys": surveys,
        "answered": answered,
        "satisfied_percent": round(100.0 * satisfied / answered, 2) if answered else None,
        "average_rating": round(ratings / answered, 2) if answered else None,
        "sla_compliance_percent": round(100.0 * met / (met + breached), 2)
        if met + breached
        else None,
    }


__all__ = ["KPI_QUERIES", "incident_kpis", "uptime_by_service", "user_satisfaction"]
