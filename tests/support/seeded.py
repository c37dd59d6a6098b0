"""A store with something on every dashboard page, made through the engine's real paths:
metric samples and log lines through ``ingest_metrics``/``ingest_logs`` (rules, templates,
thresholds run as in production), alert changes through the alert log (incidents follow),
probe results from real TCP checks, and an operator's acknowledgement."""

from __future__ import annotations

import re
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from opsengine.alerts import AlertChange, changes_table
from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.sources.probes import ProbeCheck, Prober, run_check
from opsengine.store.db import default_data_dir

HOSTS = ("web-1", "web-2", "db-1")
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
SCRIPT_LINE = 'web-2 app[77]: user comment <script>window.__pwned = 1</script> & "quoted"'


def _metric_rows(now: datetime) -> pa.Table:
    rows: dict[str, list] = {"ts": [], "host": [], "name": [], "value": []}
    start = now - timedelta(minutes=40)
    for step in range(0, 40 * 60, 30):
        ts = start + timedelta(seconds=step)
        for i, host in enumerate(HOSTS):
            busy = 97.0 if host == "web-1" and step >= 15 * 60 else 20.0 + 5 * i + (step % 300) / 60
            for name, value in (
                ("cpu_usage_percent", busy),
                ("memory_used_percent", 45.0 + 10 * i),
                ("disk_used_percent", 60.0 + i + step / 600),
                ("net_receive_bytes_per_second", 1e5 * (i + 1)),
                ("net_transmit_bytes_per_second", 5e4 * (i + 1)),
                ("uptime_seconds", 1e5 + step),
            ):
                rows["ts"].append(ts)
                rows["host"].append(host)
                rows["name"].append(name)
                rows["value"].append(value)
    return pa.table(rows)


def _syslog(ts: datetime, host: str, app: str, text: str) -> str:
    return f"{ts.strftime('%Y-%m-%dT%H:%M:%S')}Z {host} {app}: {text}"


def _log_lines(now: datetime) -> list[str]:
    lines = []
    for i in range(60):
        ts = now - timedelta(minutes=30) + timedelta(seconds=20 * i)
        lines.append(_syslog(ts, HOSTS[i % 3], f"shop[{100 + i}]", f"GET /cart/{i} 200 in {i}ms"))
        if i % 10 == 0:
            lines.append(_syslog(ts, "db-1", "postgres[9]", f"ERROR: deadlock detected pid {i}"))
    for i in range(8):  # an SSH brute force: the sshd_failed_password threshold (5 in 1m)
        ts = now - timedelta(minutes=5) + timedelta(seconds=3 * i)
        lines.append(
            _syslog(ts, "web-1", "sshd[4242]",
                    f"Failed password for root from 203.0.113.9 port {40000 + i} ssh2")
        )  # fmt: skip
    lines.append(_syslog(now - timedelta(minutes=1), "web-2", "app[77]", SCRIPT_LINE))
    return lines


def _probe_results(engine: Engine, now: datetime) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    check = ProbeCheck.from_dict(
        {"name": "shop", "tcp": f"127.0.0.1:{listener.getsockname()[1]}"}, where="seed"
    )
    prober = Prober(engine.store, engine.alerts, [check])
    try:
        for minute in range(10):
            prober.record(check, run_check(check, now - timedelta(minutes=10 - minute)))
    finally:
        listener.close()


def _outage(engine: Engine, now: datetime) -> None:
    """A service outage that fired and recovered (one incident, auto-resolved)."""
    since = now - timedelta(minutes=25)
    labels = {"service": "checkout", "host": "web-2"}
    for state, ts in (("firing", since), ("resolved", now - timedelta(minutes=12))):
        engine.alerts.publish(changes_table([AlertChange(
            ts=ts, rule="checkout_down", state=state, active_since=since, labels=labels,
            annotations={"summary": "checkout answers 503"}, severity="critical",
            category="availability", source="api",
            fired_at=ts if state == "firing" else None,
            resolved_at=ts if state == "resolved" else None)]))  # fmt: skip


def _service_desk(engine: Engine, now: datetime) -> None:
    """Three tickets under a 24x7 SLA: answered, solved and rated (CSAT, SLA compliance)."""
    desk = engine.tickets
    desk.set_calendar(
        "always",
        {
            "timezone": "UTC",
            "hours": {
                d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            },
        },
    )
    desk.set_policy("standard", {"calendar": "always",
                                 "targets": {"P3": {"first_response": "1h", "resolution": "8h"}}},
                    queues=["support"])  # fmt: skip
    for i, rating in enumerate((5, 4, 2)):
        t = desk.create(
            subject=f"Cannot log in to the shop ({i})",
            description="403 on login",
            requester={"name": f"user {i}", "email": f"u{i}@example.com"},
            actor="key:seed",
            queue="support",
            at=now - timedelta(hours=3),
        )
        desk.reply(
            t["id"],
            "We reset your session; try again.",
            actor="key:seed",
            at=now - timedelta(hours=2, minutes=50),
        )
        desk.set_status(t["id"], "solved", actor="key:seed", at=now - timedelta(hours=2))
        desk.answer_survey(desk.survey_token(t["id"]), rating, at=now - timedelta(hours=1))


def _config_drift(engine: Engine, folder: Path) -> None:
    """nginx.conf tracked, approved, then changed by hand: one drift from the baseline."""
    conf = folder / "nginx.conf"
    conf.write_text("worker_processes 4;\nkeepalive_timeout 65;\n")
    engine.config.track("nginx", [str(conf)], env="prod", actor="key:seed")
    engine.config.snapshot("nginx", "prod")
    engine.config.approve("nginx", "prod", actor="key:seed")
    conf.write_text("worker_processes 16;\nkeepalive_timeout 5;\n")
    engine.config.snapshot("nginx", "prod")


def seed(path: Path) -> Settings:
    """Write the seeded store at ``path``; returns the settings to serve it with."""
    settings = Settings()
    settings.api.rate_limit = 0
    now = datetime.now(UTC).replace(microsecond=0)
    with Engine(path, settings, admin_channel=False) as engine:
        engine.ingest_metrics(_metric_rows(now))
        engine.ingest_logs(_log_lines(now), source="syslog")
        _outage(engine, now)
        _probe_results(engine, now)
        _service_desk(engine, now)
        _config_drift(engine, path.parent)
        engine.tick_rules(now)
        triggered = engine.incidents.list(state="triggered", limit=100)
        engine.incidents.acknowledge(triggered[-1]["id"], actor="key:seed")
        # Left triggered for the tests to act on.
        engine.incidents.create(
            "Disk /var filling on db-1",
            actor="key:seed",
            category="performance",
            impact="high",
            urgency="medium",
            service="db",
            host="db-1",
        )
    return settings


def copy_store(path: Path, folder: Path) -> Path:
    """A copy of the seeded store: its DuckDB file and its data directory (the history
    segments), under the same names in ``folder``."""
    copy = folder / path.name
    shutil.copy(path, copy)
    if default_data_dir(path).is_dir():
        shutil.copytree(default_data_dir(path), default_data_dir(copy))
    return copy
