"""Template ids at ingest: every stored line gets one, the catalogue and the per-minute
counts agree with `logs`, ids survive a restart (even a hard kill), and `kind:
new_template` rules fire on never-seen error shapes after the warm-up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from opsengine import Engine, RuleSet
from opsengine.config import Settings

from tests.support.loghub import LOGHUB, needs_loghub


def read(db: Path, sql: str, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def halves(tmp_path: Path, name: str) -> tuple[Path, Path]:
    lines = (LOGHUB / name / f"{name}_2k.log").read_bytes().splitlines(keepends=True)
    first, second = tmp_path / f"{name}.1.log", tmp_path / f"{name}.2.log"
    first.write_bytes(b"".join(lines[:1000]))
    second.write_bytes(b"".join(lines[1000:]))
    return first, second


@needs_loghub
@pytest.mark.parametrize("name", ["OpenSSH", "HDFS", "Linux"])
def test_every_line_gets_a_template_and_the_catalogue_agrees(tmp_path, name):
    db = tmp_path / "ops.duckdb"
    with Engine(db, admin_channel=False) as engine:
        result = engine.ingest_logs(LOGHUB / name / f"{name}_2k.log")
    assert result.lines == 2000
    assert read(db, "SELECT count(*) FROM logs WHERE template_id IS NULL") == [(0,)]
    (templates,) = read(db, "SELECT count(*) FROM log_templates")[0]
    assert 5 <= templates < 400, templates
    # The catalogue's counts, the per-minute counts and the lines all say the same.
    assert read(db, "SELECT sum(count) FROM log_templates") == [(2000,)]
    assert read(db, "SELECT sum(count) FROM log_template_counts_1m") == [(2000,)]
    assert read(
        db,
        "SELECT count(*) FROM (SELECT template_id, count(*) AS n FROM logs GROUP BY 1) l "
        "FULL JOIN log_templates t ON t.id = l.template_id WHERE l.n IS DISTINCT FROM t.count",
    ) == [(0,)]
    # The example of a template is a message that the template covers.
    rows = read(
        db,
        "SELECT t.template, t.example FROM log_templates t ORDER BY count DESC LIMIT 1",
    )
    template, example = rows[0]
    literal_words = [w for w in template.split() if "<*>" not in w]
    assert all(w in example for w in literal_words), (template, example)


@needs_loghub
def test_reingesting_a_file_counts_no_template_twice(tmp_path):
    db = tmp_path / "ops.duckdb"
    log = LOGHUB / "OpenSSH" / "OpenSSH_2k.log"
    with Engine(db, admin_channel=False) as engine:
        engine.ingest_logs(log)
        engine.ingest_logs(log)
    assert read(db, "SELECT sum(count) FROM log_templates") == [(2000,)]


def _ids_by_line(db: Path) -> list[tuple[str, int]]:
    return read(db, "SELECT raw, template_id FROM logs ORDER BY id")


@needs_loghub
def test_template_ids_survive_a_hard_kill(tmp_path):
    first, second = halves(tmp_path, "OpenSSH")
    # Reference: one engine sees both halves.
    ref = tmp_path / "ref.duckdb"
    with Engine(ref, admin_channel=False) as engine:
        engine.ingest_logs(first)
        engine.ingest_logs(second)
    # Crash: a process ingests the first half and dies without closing anything.
    db = tmp_path / "ops.duckdb"
    script = textwrap.dedent(
        f"""
        import os
        from opsengine import Engine
        engine = Engine({str(db)!r}, admin_channel=False)
        engine.ingest_logs({str(first)!r})
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    with Engine(db, admin_channel=False) as engine:
        engine.ingest_logs(second)
    assert _ids_by_line(db) == _ids_by_line(ref)
    assert read(db, "SELECT id, count FROM log_templates ORDER BY id") == read(
        ref, "SELECT id, count FROM log_templates ORDER BY id"
    )


NEW_SHAPE_RULES = [
    {
        "name": "new_error_shape",
        "kind": "new_template",
        "severity": "medium",
        "category": "error",
        "summary": "never-seen error shape",
        "levels": ["error", "critical"],
    },
    {
        "name": "any_new_shape",
        "kind": "new_template",
        "severity": "info",
        "category": "error",
        "summary": "never-seen shape",
    },
]


def test_new_template_rules_fire_after_the_warm_up_only(tmp_path):
    settings = Settings()
    settings.templates.warmup_lines = 50
    db = tmp_path / "ops.duckdb"
    known = [
        f"2026-11-28 10:{i // 60:02d}:{i % 60:02d},000 INFO request {i} served in {i % 7} ms"
        for i in range(100)
    ]
    fresh = [
        "2026-11-28 11:00:00,000 ERROR disk quota exceeded on volume data7 for tenant acme",
        "2026-11-28 11:00:01,000 INFO cache warmed with 5000 entries from peer cache2",
    ]
    rules = RuleSet.from_dicts(NEW_SHAPE_RULES)
    with Engine(db, config=settings, rules=rules, admin_channel=False) as engine:
        engine.ingest_logs(known, source="app")
        assert engine.query("SELECT count(*) AS n FROM events").column("n")[0].as_py() == 0
        result = engine.ingest_logs(fresh, source="app")
    assert result.events == 3
    rows = read(
        db,
        "SELECT e.rule, e.severity, e.fields['level'], e.fields['template'], l.raw "
        "FROM events e JOIN logs l ON l.id = e.log_id ORDER BY e.rule, l.id",
    )
    assert [(r[0], r[2]) for r in rows] == [
        ("any_new_shape", "error"),
        ("any_new_shape", "info"),
        ("new_error_shape", "error"),
    ]
    assert rows[2][1] == "medium"
    assert "quota exceeded" in rows[2][3] and "quota exceeded" in rows[2][4]


def test_template_mining_can_be_switched_off(tmp_path):
    settings = Settings()
    settings.templates.enabled = False
    db = tmp_path / "ops.duckdb"
    with Engine(db, config=settings, admin_channel=False) as engine:
        engine.ingest_logs(["2026-11-28T10:00:00Z host app: hello"], source="x")
    assert read(db, "SELECT count(*) FROM logs WHERE template_id IS NULL") == [(1,)]
    assert read(db, "SELECT count(*) FROM log_templates") == [(0,)]


def test_events_keep_only_the_fields_a_rule_lists(tmp_path):
    """`fields:` names the captures that become event fields; other groups stay out."""
    rules = RuleSet.from_dicts(
        [
            {
                "name": "login_failed",
                "severity": "high",
                "category": "security",
                "summary": "failed login",
                "pattern": r"failed login for (?P<user>\w+) from (?P<rhost>[\d.]+) port (?P<port>\d+)",
                "fields": ["user", "rhost"],
            },
            {
                "name": "port_scan",
                "severity": "medium",
                "category": "security",
                "summary": "probe",
                "pattern": r"probe on port (?P<port>\d+)",
            },
        ]
    )
    settings = Settings()
    settings.templates.enabled = False
    db = tmp_path / "ops.duckdb"
    with Engine(db, config=settings, rules=rules, admin_channel=False) as engine:
        engine.ingest_logs(
            [
                "2026-11-28 10:00:00,000 WARN failed login for bob from 10.0.0.7 port 2222",
                "2026-11-28 10:00:01,000 WARN probe on port 23",
            ],
            source="auth",
        )
    rows = read(db, "SELECT rule, fields FROM events ORDER BY rule")
    assert rows == [
        ("login_failed", {"user": "bob", "rhost": "10.0.0.7"}),
        ("port_scan", {"port": "23"}),
    ]


@needs_loghub
def test_template_trend_and_new_templates_queries(tmp_path):
    db = tmp_path / "ops.duckdb"
    with Engine(db, admin_channel=False) as engine:
        engine.ingest_logs(LOGHUB / "OpenSSH" / "OpenSSH_2k.log")
    args = ["--param", "from=2000-01-01", "--param", "to=2100-01-01", "--format", "json"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "opsengine.cli",
            "query",
            "template_trend",
            "--db",
            str(db),
            "--param",
            "bucket=1 day",
            "--param",
            "top=3",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    trend = json.loads(out)
    # The top 3 templates by lines, bucketed per day: their lines add up to their counts.
    top = read(db, "SELECT id, count FROM log_templates ORDER BY count DESC, id LIMIT 3")
    per_template: dict[int, int] = {}
    for row in trend:
        per_template[row["template_id"]] = per_template.get(row["template_id"], 0) + row["lines"]
    assert per_template == dict(top)
    out = subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "query", "new_templates", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    fresh = json.loads(out)
    assert len(fresh) == read(db, "SELECT count(*) FROM log_templates")[0][0]
    assert sum(r["lines"] for r in fresh) == 2000
