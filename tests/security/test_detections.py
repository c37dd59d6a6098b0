"""Detections on the real OpenSSH log from loghub: one brute-force finding per source
address, equal to what this test computes from the raw lines with the rule's own
threshold (count within a window, by rhost)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from opsengine.engine import Engine

from tests.support.loghub import LOGHUB, loghub_lines, needs_loghub

_TS = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d) ")


def _expected_sources(engine: Engine, rule_name: str) -> set[str]:
    rule = next(r for r in engine.rules if r.name == rule_name)
    pattern = re.compile(rule.pattern)
    count, within = rule.threshold.count, rule.threshold.within
    window = within if isinstance(within, timedelta) else timedelta(seconds=float(within))
    times: dict[str, list[datetime]] = {}
    for line in loghub_lines("OpenSSH"):
        m = pattern.search(line)
        if m:
            ts = datetime.strptime("2026 " + _TS.match(line).group(1), "%Y %b %d %H:%M:%S")
            times.setdefault(m.group("rhost"), []).append(ts)
    hits = set()
    for rhost, ts in times.items():
        ts.sort()
        if any(ts[i + count - 1] - ts[i] < window for i in range(len(ts) - count + 1)):
            hits.add(rhost)
    return hits


@needs_loghub
def test_brute_force_findings_one_per_source_ip(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        expected = _expected_sources(engine, "sshd_failed_password")
        engine.ingest_logs(LOGHUB / "OpenSSH" / "OpenSSH_2k.log")
        findings = engine.security.list(kind="detection", limit=1000)
        brute = [f for f in findings if f["cause"] == "ssh_brute_force"]
        assert len(expected) >= 3  # the log has several attackers
        assert sorted(f["subject"] for f in brute) == sorted(expected)
        f = brute[0]
        assert f["evidence"]["rule"] == "sshd_failed_password"
        assert f["evidence"]["labels"]["rhost"] == f["subject"]
        # high severity: each opened a security incident that points back at it
        incident = engine.incidents.get(f["incident_id"])
        assert incident["labels"]["finding"] == str(f["id"])
        # re-ingesting the same log updates the same findings, never a second one
        engine.ingest_logs(LOGHUB / "OpenSSH" / "OpenSSH_2k.log", source="again")
        again = [x for x in engine.security.list(kind="detection", limit=1000)
                 if x["cause"] == "ssh_brute_force"]  # fmt: skip
        assert sorted(x["id"] for x in again) == sorted(x["id"] for x in brute)


@needs_loghub
def test_break_in_attempts_and_sudo_failures_become_findings(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        patterns = [re.compile(r.pattern) for r in engine.rules
                    if r.name.startswith("sshd_possible_breakin")]  # fmt: skip
        expected: dict[str, int] = {}
        for line in loghub_lines("OpenSSH"):
            for p in patterns:
                m = p.search(line)
                if m:
                    expected[m.group("rhost")] = expected.get(m.group("rhost"), 0) + 1
        engine.ingest_logs(LOGHUB / "OpenSSH" / "OpenSSH_2k.log")
        engine.ingest_logs([
            "Dec 10 07:00:01 web1 sudo:    mallory : 3 incorrect password attempts ; TTY=pts/0 ; "
            "PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash",
            "Dec 10 07:00:09 web1 sudo:    mallory : user NOT in sudoers ; TTY=pts/0 ; "
            "PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash",
        ], host="web1")  # fmt: skip
        report = engine.security.scan()
        assert report["detections"] == len(expected) + 1
        breakin = {f["subject"]: f for f in engine.security.list(kind="detection", limit=1000)
                   if f["cause"] == "ssh_possible_breakin"}  # fmt: skip
        assert {s: f["evidence"]["events"] for s, f in breakin.items()} == expected
        sudo = engine.security.list(subject="mallory")
        assert [(f["cause"], f["evidence"]["events"]) for f in sudo] == [("sudo_failure", 2)]
        # the next scan reads only new events: nothing is counted twice
        assert engine.security.scan()["detections"] == 0
        assert engine.security.list(subject="mallory")[0]["occurrences"] == 1
