"""The overview: KPI tiles, open incidents by priority, the host health grid and the fleet
charts, each computed from the engine's services and the named queries.

CSAT and SLA compliance come from the service desk (``engine.tickets``, through
``kpi.user_satisfaction``), config drift from ``engine.config.drift()``; a tile whose
domain this engine does not have says "not configured" (open findings, until a security
domain offers ``engine.security.kpis(start, end)`` → ``{"open_findings": n}``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opsengine.kpi import incident_kpis
from opsengine.web.charts import line_chart, sum_by
from opsengine.web.reads import metric_series, named
from opsengine.web.render import fmt_num, fmt_seconds

KPI_DAYS = 30
#: A host silent this long is shown as stale in the grid.
STALE_S = 180
WARN, CRIT = 80.0, 90.0


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str  # "" when there is nothing to show
    detail: str
    configured: bool = True

    @property
    def filled(self) -> bool:
        return self.configured and self.value != ""


def _time_tile(key: str, label: str, kpi: dict[str, Any]) -> Tile:
    mean = kpi["mean_seconds"]
    if mean is None:
        return Tile(key, label, "", f"no incident measured in {KPI_DAYS} days")
    return Tile(
        key,
        label,
        fmt_seconds(mean),
        f"median {fmt_seconds(kpi['median_seconds'])} · {kpi['measured']} incidents",
    )


def kpi_tiles(engine: Any, now: datetime | None = None) -> list[Tile]:
    end = now or datetime.now(UTC)
    start = end - timedelta(days=KPI_DAYS)
    k = incident_kpis(engine.store, start, end)
    tiles = [
        _time_tile("mttd", "MTTD", k["mttd"]),
        _time_tile("mtta", "MTTA", k["mtta"]),
        _time_tile("mttr", "MTTR", k["mttr"]),
    ]
    services = k["uptime"]
    if services:
        checks = sum(s["checks"] for s in services)
        passed = sum(s["passed"] for s in services)
        worst = services[0]
        tiles.append(
            Tile(
                "uptime",
                "Uptime",
                f"{100.0 * passed / checks:.2f} %",
                f"{len(services)} services · lowest {worst['service']} "
                f"{worst['uptime_percent']:.2f} %",
            )
        )
    else:
        tiles.append(Tile("uptime", "Uptime", "", "no probe results; add [[probes.check]]"))
    weeks = KPI_DAYS / 7
    sec = k["security_incidents"]
    tiles.append(
        Tile(
            "security",
            "Security incidents",
            f"{sec / weeks:.1f} / week",
            f"{sec} in {KPI_DAYS} days",
        )
    )
    tiles += _desk_tiles(engine, k.get("user_satisfaction"))
    tiles.append(_findings_tile(engine, start, end))
    tiles.append(_drift_tile(engine))
    return tiles


def _not_configured(key: str, label: str, domain: str) -> Tile:
    return Tile(key, label, "", f"needs the {domain} domain", configured=False)


def _desk_tiles(engine: Any, desk: dict[str, Any] | None) -> list[Tile]:
    """CSAT and SLA compliance from the service desk (``engine.tickets``)."""
    if not hasattr(engine, "tickets") or desk is None:
        return [
            _not_configured("csat", "CSAT", "tickets"),
            _not_configured("sla", "SLA compliance", "tickets"),
        ]
    csat, sla = desk.get("satisfied_percent"), desk.get("sla_compliance_percent")
    return [
        Tile(
            "csat",
            "CSAT",
            f"{csat:.1f} %",
            f"{desk['answered']} of {desk['surveys']} "
            f"surveys answered · average {desk['average_rating']}",
        )
        if csat is not None
        else Tile("csat", "CSAT", "", f"no survey answered in {KPI_DAYS} days"),
        Tile("sla", "SLA compliance", f"{sla:.1f} %", "first response and resolution targets met")
        if sla is not None
        else Tile("sla", "SLA compliance", "", f"no SLA target due in {KPI_DAYS} days"),
    ]


def _findings_tile(engine: Any, start: datetime, end: datetime) -> Tile:
    """Open security findings: a security domain fills it with ``kpis(start, end)`` →
    ``{"open_findings": n}``."""
    kpis = getattr(getattr(engine, "security", None), "kpis", None)
    if not callable(kpis):
        return _not_configured("findings", "Open findings", "security")
    value = kpis(start, end).get("open_findings")
    if value is None:
        return Tile("findings", "Open findings", "", "no scan yet")
    return Tile("findings", "Open findings", fmt_num(value), "security findings not closed")


def _drift_tile(engine: Any) -> Tile:
    config = getattr(engine, "config", None)
    if not callable(getattr(config, "drift", None)):
        return _not_configured("drift", "Config drift", "config")
    drifts = config.drift()
    items = len({(d.get("item"), d.get("env")) for d in drifts})
    return Tile(
        "drift",
        "Config drift",
        fmt_num(len(drifts)),
        f"{items} tracked items away from their baseline or unapproved"
        if drifts
        else "every tracked item matches its baseline",
    )


def open_by_priority(engine: Any) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
    """(counts per priority, highest first; the open incidents, newest first)."""
    open_incidents = engine.incidents.list(state="open", limit=1000)
    counts = Counter(i["priority"] for i in open_incidents)
    return sorted(counts.items()), open_incidents


def _level(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "crit" if value >= CRIT else "warn" if value >= WARN else "ok"


def host_grid(engine: Any, open_incidents: list[dict[str, Any]], now: datetime | None = None):
    """One cell per host that reported in the last 15 minutes, with its worst state."""
    now = now or datetime.now(UTC)
    by_host = Counter(i["host"] for i in open_incidents if i.get("host"))
    cells = []
    for r in named(engine, "host_health", **{"from": now - timedelta(minutes=15)}):
        stale = (now - r["last_seen"]).total_seconds() > STALE_S
        levels = [_level(r[c]) for c in ("cpu_percent", "memory_percent", "disk_percent")]
        state = (
            "crit"
            if stale or "crit" in levels or by_host[r["host"]]
            else "warn"
            if "warn" in levels
            else "ok"
        )
        cells.append({**r, "stale": stale, "state": state, "incidents": by_host[r["host"]]})
    return cells


def fleet_charts(engine: Any, start: datetime, end: datetime, bucket: str) -> list[dict[str, Any]]:
    def series(name: str) -> list[dict[str, Any]]:
        return metric_series(engine, name, start, end, bucket)

    rx = [
        {**r, "direction": "receive"}
        for r in sum_by(series("net_receive_bytes_per_second"), "bucket_start", "total")
    ]
    tx = [
        {**r, "direction": "transmit"}
        for r in sum_by(series("net_transmit_bytes_per_second"), "bucket_start", "total")
    ]
    volume = named(engine, "log_volume", **{"from": start, "to": end}, bucket=bucket)
    per_level: dict[tuple[Any, str], int] = Counter()
    for r in volume:
        per_level[(r["bucket_start"], r["level"])] += r["lines"]
    volume_rows = [
        {"bucket_start": b, "level": lv, "lines": n}
        for (b, lv), n in sorted(per_level.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    errors = named(engine, "error_rate", **{"from": start, "to": end})
    lines = sum_by(errors, "minute", "lines")
    bad = {r["minute"]: r["error_lines"] for r in sum_by(errors, "minute", "error_lines")}
    ratio = [
        {"minute": r["minute"], "percent": 100.0 * bad.get(r["minute"], 0) / r["lines"]}
        for r in lines
        if r["lines"]
    ]
    return [
        line_chart(
            series("cpu_usage_percent"),
            x="bucket_start",
            y="mean",
            by="host",
            title="CPU busy (%)",
            y_title="%",
        ),
        line_chart(
            series("memory_used_percent"),
            x="bucket_start",
            y="mean",
            by="host",
            title="Memory used (%)",
            y_title="%",
        ),
        line_chart(
            series("disk_used_percent"),
            x="bucket_start",
            y="peak",
            by="host",
            title="Fullest disk (% used)",
            y_title="%",
        ),
        line_chart(
            rx + tx,
            x="bucket_start",
            y="total",
            by="direction",
            title="Network, whole fleet (bytes/s)",
            y_title="bytes/s",
        ),
        line_chart(
            volume_rows,
            x="bucket_start",
            y="lines",
            by="level",
            title="Log volume (lines per bucket)",
            kind="bar",
            stacked=True,
        ),
        line_chart(
            ratio,
            x="minute",
            y="percent",
            by=None,
            title="Error rate (% of lines at error level or worse)",
            y_title="%",
        ),
    ]
