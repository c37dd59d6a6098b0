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
