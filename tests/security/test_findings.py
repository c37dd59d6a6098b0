"""Findings through the real engine on a DuckDB file: one finding per subject and cause,
the lifecycle with its history, and the security incident a high finding opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsengine.engine import Engine
from opsengine.security.models import FindingNotFound, InvalidTransition, SecurityError

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "ops.duckdb", admin_channel=False)
    yield e
    e.close()


def _observe(engine, now, *, subject="203.0.113.7", severity="medium", line="Failed password"):
    return engine.security.findings.observe(
        kind="detection", subject=subject, cause="sshd_brute_force", severity=severity,
        title=f"SSH brute force from {subject}", evidence={"lines": [line]}, now=now,
    )  # fmt: skip


def test_same_subject_and_cause_update_one_finding(engine):
    f1, c1 = _observe(engine, T0)
    f2, c2 = _observe(engine, T0 + timedelta(minutes=5), line="Failed password again")
    other, c3 = _observe(engine, T0, subject="198.51.100.1")
    assert (c1, c2, c3) == ("opened", "seen", "opened")
    assert f1["id"] == f2["id"] != other["id"]
    got = engine.security.get(f1["id"])
    assert got["occurrences"] == 2
    assert got["first_seen"] == T0 and got["last_seen"] == T0 + timedelta(minutes=5)
    assert got["evidence"] == {"lines": ["Failed password again"]}
    assert [h["action"] for h in got["history"]] == ["opened"]
    assert len(engine.security.list(kind="detection")) == 2


def test_lifecycle_history_names_who(engine):
    f, _ = _observe(engine, T0)
    fid = f["id"]
    engine.security.act(fid, "acknowledge", actor="alice", now=T0 + timedelta(minutes=1))
    with pytest.raises(InvalidTransition, match="cannot acknowledge"):
        engine.security.act(fid, "acknowledge", actor="alice")
    with pytest.raises(SecurityError, match="until"):
        engine.security.act(fid, "accept-risk", actor="bob", now=T0)
    with pytest.raises(SecurityError, match="not in the future"):
        engine.security.act(fid, "accept-risk", actor="bob", until=T0, now=T0)
    engine.security.act(fid, "accept-risk", actor="bob", reason="firewalled at the edge",
                        until=T0 + timedelta(days=7), now=T0 + timedelta(minutes=2))  # fmt: skip
    assert engine.security.findings.expire(T0 + timedelta(days=6)) == []
    assert engine.security.get(fid)["state"] == "accepted_risk"
    reopened = engine.security.findings.expire(T0 + timedelta(days=7, seconds=1))
    assert [r["id"] for r in reopened] == [fid]
    got = engine.security.get(fid)
    assert got["state"] == "open"
    assert [(h["action"], h["actor"], h["to_state"]) for h in got["history"]] == [
        ("opened", "scanner", "open"),
        ("acknowledge", "alice", "acknowledged"),
        ("accept-risk", "bob", "accepted_risk"),
        ("reopen", "scanner", "open"),
    ]
    assert got["history"][2]["reason"] == "firewalled at the edge"
    with pytest.raises(FindingNotFound):
        engine.security.get(fid + 100)


def test_false_positive_stays_closed_and_counts_recurrences(engine):
    f, _ = _observe(engine, T0)
    engine.security.act(f["id"], "false-positive", actor="carol", reason="our scanner")
    for n in range(3):
        _, change = _observe(engine, T0 + timedelta(hours=n + 1))
        assert change == "suppressed"
    got = engine.security.get(f["id"])
    assert got["state"] == "false_positive" and got["suppressed"] == 3
    assert got["last_seen"] == T0 + timedelta(hours=3)
    assert [h["action"] for h in got["history"]].count("suppressed") == 3
    # a mitigated finding that recurs is open again
    g, _ = _observe(engine, T0, subject="192.0.2.9")
    engine.security.act(g["id"], "mitigate", actor="dave")
    _, change = _observe(engine, T0 + timedelta(hours=1), subject="192.0.2.9")
    assert change == "reopened" and engine.security.get(g["id"])["state"] == "open"


def test_high_finding_opens_a_security_incident_linked_both_ways(engine):
    low, _ = _observe(engine, T0, subject="198.51.100.2", severity="low")
    assert low["incident_id"] is None
    f, _ = _observe(engine, T0, severity="high")
    incident_id = engine.security.get(f["id"])["incident_id"]
    assert incident_id is not None
    incident = engine.incidents.get(incident_id)
    assert incident["category"] == "security breach"
    assert incident["labels"]["finding"] == str(f["id"])
    assert [x["id"] for x in engine.security.findings.for_incident(incident_id)] == [f["id"]]
    # closing the finding resolves its alert
    engine.security.act(f["id"], "mitigate", actor="erin")
    states = [a["state"] for a in engine.alerts.search(rule="security_finding")]
    assert states == ["resolved"]
