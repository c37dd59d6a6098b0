"""Small, exact history for store tests: a real DuckDB file with known logs and events, and a
way to run the ``opsengine`` CLI as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import opsengine
import pyarrow as pa
from opsengine.store import Store
from opsengine.store.metric_store import MetricSeriesCatalogue, append_metrics

PACKAGE_PARENT = Path(opsengine.__file__).resolve().parent.parent


def t(text: str) -> datetime:
    """A UTC time from ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (id, ts, ingested_at, host, source, level, message)
LOGS = [
    (1, t("2024-05-10 10:00:05"), t("2024-05-10 10:00:06"), "h1", "syslog", "error", "disk full"),
    (2, t("2024-05-10 10:00:40"), t("2024-05-10 10:00:41"), "h1", "syslog", "info", "ok"),
    (3, t("2024-05-10 10:01:10"), t("2024-05-10 10:01:11"), "h1", "syslog", "critical", "raid"),
    (4, t("2024-05-10 10:00:20"), t("2024-05-10 10:00:21"), "h2", "nginx", "info", "GET /"),
    (5, t("2024-05-10 10:30:00"), t("2024-05-10 10:30:01"), "h2", "nginx", "warning", "slow"),
    (6, t("2024-05-10 11:15:00"), t("2024-05-10 11:15:01"), "h1", "syslog", "info", "disk ok"),
    (7, None, t("2024-05-10 10:59:59"), "h2", "nginx", "error", "upstream gone"),
    (8, t("2024-05-09 23:59:59"), t("2024-05-10 00:00:01"), "h1", "syslog", "error", "late"),
]

# (ts, host, source, rule, severity, category, fields, log_id)
EVENTS = [
    (t("2024-05-10 10:00:05"), "h1", "syslog", "ssh_fail", "high", "security", {"user": "root"}, 1),
    (t("2024-05-10 10:20:00"), "h2", "nginx", "ssh_fail", "high", "security", {"user": "adm"}, 4),
    (t("2024-05-03 08:00:00"), "h1", "syslog", "ssh_fail", "high", "security", {}, 8),
    (t("2024-05-10 10:00:05"), "h1", "syslog", "disk_full", "critical", "availability", {}, 1),
    (t("2024-05-10 12:00:00"), "h1", "syslog", "disk_full", "critical", "availability", {}, 6),
    (t("2024-05-02 23:00:00"), "h1", "syslog", "disk_full", "critical", "availability", {}, 8),
    (t("2024-05-10 23:59:59"), "h2", "nginx", "nginx_5xx", "medium", "error", {"code": "502"}, 5),
    (t("2024-05-11 00:00:00"), "h2", "nginx", "nginx_5xx", "medium", "error", {"code": "503"}, 5),
]

# (ts, host, name, value)
METRICS = [
    (t("2024-05-09 12:00:00"), "h1", "cpu", 0.5),
    (t("2024-05-10 12:00:00"), "h1", "cpu", 0.75),
    (t("2024-05-10 12:01:00"), "h2", "cpu", 0.25),
]


def insert_logs(store: Store, rows) -> None:
    """Rows of (id, ts, ingested_at, host, source, level, message), as one committed segment
    per day through the store's history write path."""
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "id": pa.array(cols[0], pa.int64()),
            "ts": pa.array(cols[1], pa.timestamp("us", tz="UTC")),
            "ingested_at": pa.array(cols[2], pa.timestamp("us", tz="UTC")),
            "host": pa.array(cols[3], pa.string()),
            "source": pa.array(cols[4], pa.string()),
            "level": pa.array(cols[5], pa.string()),
            "message": pa.array(cols[6], pa.string()),
            "raw": pa.array([f"raw {i}" for i in cols[0]], pa.string()),
        }
    )
    store.append_history({"logs": table}, stored_at=table.column("ingested_at").combine_chunks())


def insert_events(store: Store, rows) -> None:
    """Rows of (ts, host, source, rule, severity, category, fields, log_id)."""
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "ts": pa.array(cols[0], pa.timestamp("us", tz="UTC")),
            "host": pa.array(cols[1], pa.string()),
            "source": pa.array(cols[2], pa.string()),
            "rule": pa.array(cols[3], pa.string()),
            "severity": pa.array(cols[4], pa.string()),
            "category": pa.array(cols[5], pa.string()),
            "fields": pa.array(
                [list(f.items()) for f in cols[6]], pa.map_(pa.string(), pa.string())
            ),
            "log_id": pa.array(cols[7], pa.int64()),
        }
    )
    # Each event as if stored when it happened (its day partition is its time's day).
    store.append_history({"events": table}, stored_at=table.column("ts").combine_chunks())


def insert_metrics(store: Store, rows) -> None:
    """Rows of (ts, host, name, value), through the store's one metric write path."""
    ts, host, name, value = (list(col) for col in zip(*rows, strict=True))
    samples = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "host": host,
            "name": name,
            "value": pa.array(value, pa.float64()),
        }
    )
    append_metrics(store, MetricSeriesCatalogue(store.cursor()), samples)


def make_history_db(path: Path) -> Path:
    """A store file at ``path`` holding LOGS, EVENTS and METRICS; closed again."""
    with Store(path) as store:
        insert_logs(store, LOGS)
        insert_events(store, EVENTS)
        insert_metrics(store, METRICS)
    return path


def subprocess_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["HOME"] = str(home)
    env.pop("OPSENGINE_CONFIG", None)
    return env


def run_cli(*args: str, home: Path, stdin: str | None = None, cwd: Path | None = None):
    """``opsengine ARGS…`` as a real process; the CompletedProcess with text output."""
    return subprocess.run(
        [sys.executable, "-m", "opsengine.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=subprocess_env(home),
        cwd=cwd,
        timeout=60,
    )
