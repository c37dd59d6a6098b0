"""Post-incident review: what happened, how fast, and what the data showed around it.

Generated for any incident from the store: the timeline, the time to detect, acknowledge
and resolve, the alerts behind it, the host's metrics and log events in a window around
it, and what changed before it — log templates first seen shortly before detection, the
changes other domains report through ``incidents.change_feeds`` (configuration changes in
the ``changes_before`` hours before detection, default 24h), and rows of change tables
(deploy markers) when another domain has made them.
Sections whose tables do not exist yet are left out, never faked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsengine.durations import format_duration, parse_duration
from opsengine.store.rows import fetch_dicts

if TYPE_CHECKING:
    from opsengine.incidents.service import IncidentService

# Tables other domains may keep whose rows mark a change; read only when present.
CHANGE_TABLES = ("deploy_markers", "deployments")
MAX_ROWS = 50
SAMPLE_ROWS = 20  # log lines quoted in a review


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a is not None and b is not None else None


def post_incident_review(
    incidents: IncidentService,
    incident_id: int,
    *,
    margin: str = "30m",
    changes_before: str = "24h",
) -> dict[str, Any]:
    """The review of one incident as a dict (see :func:`render_markdown`)."""
    inc = incidents.get(incident_id)
    pad = timedelta(seconds=parse_duration(margin))
    start = inc["started_at"] - pad
    end = (inc["resolved_at"] or inc["last_seen_at"]) + pad
    review: dict[str, Any] = {
        "incident": inc,
        "timeline": incidents.timeline(incident_id),
        "window": {"from": start, "to": end},
        "durations": {
            "to_detect_s": _seconds(inc["started_at"], inc["detected_at"]),
            "to_acknowledge_s": _seconds(inc["detected_at"], inc["acknowledged_at"]),
            "to_resolve_s": _seconds(inc["detected_at"], inc["resolved_at"]),
        },
    }
    store = incidents.store
    tables = set(store.tables())
    host_params = [inc["host"]] if inc["host"] else []

    def host_filter(column: str) -> str:
        return f"{column} = ? AND " if inc["host"] else ""

    cur = store.cursor()
    try:
        review["metrics"] = fetch_dicts(
            cur,
            f"SELECT name, count(*) AS samples, min(value) AS min, avg(value) AS avg, "
            f"max(value) AS max FROM metrics WHERE {host_filter('host')}ts >= ? AND ts <= ? "
            f"GROUP BY name ORDER BY name LIMIT {MAX_ROWS}",
            [*host_params, start, end],
        )
        review["log_events"] = fetch_dicts(
            cur,
            f"SELECT rule, severity, count(*) AS events, min(ts) AS first, max(ts) AS last "
            f"FROM events WHERE {host_filter('host')}ts >= ? AND ts <= ? "
            f"GROUP BY rule, severity ORDER BY events DESC, rule LIMIT {MAX_ROWS}",
            [*host_params, start, end],
        )
        review["log_samples"] = fetch_dicts(
            cur,
            "SELECT e.ts, e.rule, e.severity, l.message FROM events e "
            f"LEFT JOIN logs l ON l.id = e.log_id WHERE {host_filter('e.host')}"
            f"e.ts >= ? AND e.ts <= ? ORDER BY e.ts, e.rule LIMIT {SAMPLE_ROWS}",
            [*host_params, start, end],
        )
        if "log_templates" in tables:
            review["new_log_templates"] = fetch_dicts(
                cur,
                "SELECT id, template, first_seen, count FROM log_templates "
                f"WHERE first_seen >= ? AND first_seen <= ? ORDER BY first_seen LIMIT {MAX_ROWS}",
                [start, inc["detected_at"]],
            )
        changes = {}
        since = inc["detected_at"] - timedelta(seconds=parse_duration(changes_before))
        for name, feed in incidents.change_feeds.items():
            changes[name] = feed(since, inc["detected_at"])[-MAX_ROWS:]
        for table in CHANGE_TABLES:
            column = _time_column(cur, table) if table in tables else None
            if column:
                # Table and column names come from information_schema, never from input.
                changes[table] = fetch_dicts(
                    cur,
                    f'SELECT * FROM "{table}" WHERE "{column}" >= ? AND "{column}" <= ? '
                    f'ORDER BY "{column}" LIMIT {MAX_ROWS}',
                    [start, inc["detected_at"]],
                )
        review["changes_before"] = changes
    finally:
        cur.close()
    return review


def _time_column(cur: Any, table: str) -> str | None:
    row = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND data_type = 'TIMESTAMP WITH TIME ZONE' ORDER BY ordinal_position LIMIT 1",
        [table],
    ).fetchone()
    return row[0] if row else None


def _change_line(r: dict[str, Any]) -> str:
    if "item" in r and "env" in r:  # a configuration change
        keys = ", ".join(k["key"] for k in r.get("key_changes") or []) or "file content"
        return (
            f"- {r['ts']:%Y-%m-%d %H:%M:%S}Z config {r['item']} ({r['env']}) "
            f"v{r['from_version']} → v{r['to_version']} by {r['actor']}: {keys}"
        )
    return f"- {r}"


def render_markdown(review: dict[str, Any]) -> str:
    """The review as Markdown, for the CLI and for pasting into a ticket."""
    inc = review["incident"]
    d = review["durations"]

    def dur(value: float | None) -> str:
        return format_duration(value) if value is not None else "—"

    out = [
        f"# Post-incident review: #{inc['id']} {inc['title']}",
        "",
        f"- Priority {inc['priority']} ({inc['impact']} impact, {inc['urgency']} urgency), "
        f"category {inc['category']}, state {inc['state']}",
        f"- Service {inc['service'] or '—'}, host {inc['host'] or '—'}, "
        f"assignee {inc['assignee'] or '—'}, {inc['alert_count']} alert(s)",
        f"- Started {inc['started_at']:%Y-%m-%d %H:%M:%S}Z; time to detect {dur(d['to_detect_s'])}, "
        f"to acknowledge {dur(d['to_acknowledge_s'])}, to resolve {dur(d['to_resolve_s'])}",
        "",
        "## Timeline",
    ]
    for ev in review["timeline"]:
        detail = ", ".join(f"{k}={v}" for k, v in ev["detail"].items())
        out.append(f"- {ev['ts']:%Y-%m-%d %H:%M:%S}Z {ev['actor']}: {ev['kind']} {detail}".rstrip())
    out += ["", "## Metrics around it"]
    out += [
        f"- {m['name']}: {m['samples']} samples, min {m['min']:.4g}, avg {m['avg']:.4g}, max {m['max']:.4g}"
        for m in review["metrics"]
        if m["min"] is not None
    ] or ["- none stored"]
    out += ["", "## Log events around it"]
    out += [
        f"- {e['rule']} ({e['severity']}): {e['events']} between {e['first']:%H:%M:%S} and {e['last']:%H:%M:%S}"
        for e in review["log_events"]
    ] or ["- none stored"]
    if review["log_samples"]:
        out += ["", "## Log lines"]
        out += [
            f"- {e['ts']:%H:%M:%S} {e['rule']}: {(e['message'] or '')[:200]}"
            for e in review["log_samples"]
        ]
    if "new_log_templates" in review:
        out += ["", "## Log templates first seen before detection"]
        out += [
            f"- {t['first_seen']:%Y-%m-%d %H:%M:%S}Z ({t['count']} lines): {t['template']}"
            for t in review["new_log_templates"]
        ] or ["- none"]
    for table, rows in review["changes_before"].items():
        out += ["", f"## {table} before detection"]
        out += [_change_line(r) for r in rows] or ["- none"]
    return "\n".join(out) + "\n"
