"""The overview: KPI tiles, open incidents by priority, the host health grid and the fleet
charts, each computed from the engine's services and the named queries.

Tiles for domains this engine does not have yet (support desk, security, configuration)
say "not configured". A domain fills its tiles by exposing ``kpis(start, end)`` returning a
dict with any of the keys in ``DOMAIN_TILES`` (e.g. ``engine.tickets.kpis(...)`` →
``{"csat_percent": 92.0, "sla_compliance_percent": 98.5}``).
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

#: (tile key, label, engine attribute, key in its kpis(), unit)
DOMAIN_TILES = (
    ("csat", "CSAT", "tickets", "csat_percent", "%"),
    ("sla", "SLA compliance", "tickets", "sla_compliance_percent", "%"),
    ("findings", "Open findings", "security", "open_findings", ""),
    ("drift", "Config drift", "config", "drifted_items", ""),
)


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
    for key, label, attribute, field, unit in DOMAIN_TILES:
        tiles.append(_domain_tile(engine, key, label, attribute, field, unit, start, end))
    return tiles


def _domain_tile(
    engine: Any,
    key: str,
    label: str,
    attribute: str,
    field: str,
    unit: str,
    start: datetime,
    end: datetime,
) -> Tile:
    domain = getattr(engine, attribute, None)
    kpis = getattr(domain, "kpis", None)
    if domain is None or not callable(kpis):
        return Tile(key, label, "", f"needs the {attribute} domain", configured=False)
    value = kpis(start, end).get(field)
    if value is None:
        return Tile(key, label, "", f"no data in {KPI_DAYS} days")
    shown = fmt_num(value, 1) + (f" {unit}" if unit else "")
    return Tile(key, label, shown, f"last {KPI_DAYS} days")


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
