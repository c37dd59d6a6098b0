"""The named queries ``security_findings_by_week`` and ``mean_time_to_mitigate`` on findings
with known times, and the KPIs endpoint that includes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.api_helpers import running_api

MON = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def _finding(engine, subject, kind, severity, seen):
    f, _ = engine.security.findings.observe(kind=kind, subject=subject, cause="c",
                                            severity=severity, title=subject, evidence={},
                                            now=seen)  # fmt: skip
    return f["id"]


def test_findings_by_week_and_mean_time_to_mitigate(tmp_path):
    with running_api(tmp_path) as api:
        e = api.engine
        a = _finding(e, "a", "vulnerability", "medium", MON)
        b = _finding(e, "b", "vulnerability", "medium", MON + timedelta(days=1))
        _finding(e, "c", "hardening", "low", MON + timedelta(days=8))
        e.security.act(a, "mitigate", actor="x", now=MON + timedelta(hours=2))
        e.security.act(b, "mitigate", actor="x", now=MON + timedelta(days=8, hours=1))
        rng = {"from": MON - timedelta(days=1), "to": MON + timedelta(days=14)}
        weeks = e.named_query("security_findings_by_week", **rng).to_pylist()
        got = [(str(w["week"]), w["kind"], w["severity"], w["opened"], w["closed"]) for w in weeks]
        assert got == [
            ("2026-11-02", "vulnerability", "medium", 2, 1),
            ("2026-11-09", "hardening", "low", 1, 0),
            ("2026-11-09", "vulnerability", "medium", 0, 1),
        ]
        mttm = {r["kind"]: r for r in e.named_query("mean_time_to_mitigate", **rng).to_pylist()}
        assert mttm["vulnerability"]["mitigated"] == 2
        assert mttm["vulnerability"]["mean_seconds"] == (2 * 3600 + 7 * 86400 + 3600) / 2
        assert mttm["hardening"]["open"] == 1 and mttm["hardening"]["mean_seconds"] is None

        r = api.get("/api/v1/incidents/kpis", "viewer",
                    params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-16T00:00:00Z"})  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["security_findings_by_week"]) == 3
        assert {x["kind"] for x in body["mean_time_to_mitigate"]} == {"vulnerability", "hardening"}
