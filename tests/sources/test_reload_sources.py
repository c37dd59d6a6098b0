"""A rules reload reaches the sources ``opsengine run`` started: after ``POST
/api/v1/rules/reload`` new lines from the file tailer and the syslog listener are matched
with the new rule, without a restart; and a batch matched before a reload is stored with
the rule set it was matched with."""

from __future__ import annotations

import socket

import pyarrow as pa
from opsengine.engine import Engine
from opsengine.rules import RuleSet
from opsengine.sources import start_sources

from tests.support.api_helpers import api_settings, running_api
from tests.support.sources_net import wait_for

DISK_RULE = """\
- name: disk_full
  kind: log
  severity: high
  category: availability
  summary: Disk full
  pattern: 'No space left on device'
"""
PAYMENT_RULE = """\
- name: payment_declined
  kind: log
  severity: medium
  category: error
  summary: "Payment declined for order {order}"
  pattern: 'card declined for order (?P<order>\\d+)'
  fields: [order]
"""


def _events(engine: Engine) -> list[tuple[str, str, str]]:
    rows = engine.query(
        "SELECT source, rule, fields['order'] AS ord FROM events ORDER BY source, rule, ord"
    ).to_pylist()
    return [(r["source"], r["rule"], r["ord"]) for r in rows]


def test_a_reload_through_the_api_reaches_the_running_tailer_and_syslog(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(DISK_RULE, encoding="utf-8")
    log = tmp_path / "app.log"
    log.write_text("Dec  1 10:00:00 web1 shop[7]: card declined for order 17\n")
    settings = api_settings()
    settings.rules = [str(rules)]
    settings.files.paths = [str(log)]
    settings.files.poll_ms = 20
    settings.syslog.listen = "127.0.0.1:0"
    settings.syslog.flush_ms = 20
    settings.host.enabled = False
    with running_api(tmp_path, settings) as api:
        engine = api.engine
        running = start_sources(engine, settings)
        try:
            port = running.sources["syslog"].port
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.sendto(b"<14>Dec  1 10:00:01 web2 shop[8]: card declined for order 18", ("127.0.0.1", port))  # fmt: skip
            assert wait_for(lambda: running.status()["files"]["lines_stored"] == 1)
            assert wait_for(lambda: running.status()["syslog"]["stored"] == 1)
            assert _events(engine) == []  # the running rule set has no payment rule yet

            rules.write_text(DISK_RULE + PAYMENT_RULE, encoding="utf-8")
            r = api.post("/api/v1/rules/reload", role="admin")
            assert r.status_code == 200, r.text
            assert (r.json()["rules"], r.json()["previous"]) == (2, 1)

            with log.open("a") as f:
                f.write("Dec  1 10:01:00 web1 shop[7]: card declined for order 19\n")
            udp.sendto(b"<14>Dec  1 10:01:01 web2 shop[8]: card declined for order 20", ("127.0.0.1", port))  # fmt: skip
            udp.close()
            assert wait_for(lambda: running.status()["files"]["lines_stored"] == 2)
            assert wait_for(lambda: running.status()["syslog"]["stored"] == 2)
        finally:
            running.stop()
        assert _events(engine) == [
            (str(log), "payment_declined", "19"),
            ("syslog", "payment_declined", "20"),
        ]
        # The API ingest path, which always saw the current set, still agrees.
        r = api.post(
            "/api/v1/ingest/logs?source=api",
            content=b"card declined for order 21\n",
            headers={"content-type": "text/plain"},
        )
        assert r.status_code in (200, 202), r.text
        assert ("api", "payment_declined", "21") in _events(engine)


def test_a_batch_matched_before_a_reload_is_stored_with_the_rules_it_was_matched_with(tmp_path):
    old = RuleSet.from_dicts(
        [
            {"name": "disk_full", "kind": "log", "severity": "high", "category": "availability",
             "summary": "Disk full on {mount}", "pattern": r"No space left on (?P<mount>\S+)",
             "fields": ["mount"]},
        ]
    )  # fmt: skip
    # The new set puts another rule first: rule index 0 now names a different rule.
    new = RuleSet.from_dicts(
        [
            {"name": "ssh_login_failed", "kind": "log", "severity": "low", "category": "security",
             "summary": "Failed login", "pattern": "Failed password"},
            {"name": "disk_full", "kind": "log", "severity": "critical", "category": "availability",
             "summary": "Disk full", "pattern": "No space left"},
        ]
    )  # fmt: skip
    with Engine(tmp_path / "store.duckdb", rules=old, admin_channel=False) as engine:
        lines = pa.array(["No space left on /var", "Failed password for root"])
        prepared = engine.logs.prepare(lines)  # matched, not stored yet: a batch in flight
        engine.reload_rules(new)
        engine.logs.store_batch(prepared, source="before")
        engine.logs.write_lines(lines, source="after")
        got = engine.query(
            "SELECT source, rule, severity, category, fields['mount'] AS mount FROM events "
            "ORDER BY source, rule"
        ).to_pylist()
    assert got == [
        {"source": "after", "rule": "disk_full", "severity": "critical",
         "category": "availability", "mount": None},
        {"source": "after", "rule": "ssh_login_failed", "severity": "low",
         "category": "security", "mount": None},
        {"source": "before", "rule": "disk_full", "severity": "high",
         "category": "availability", "mount": "/var"},
    ]  # fmt: skip
