"""Grouping keeps incident categories apart: a security alert on a service that has an open
outage opens its own incident, while alerts of the same category on the same service (or
host) within the grouping window still join one incident."""

from __future__ import annotations

import pytest
from opsengine.engine import Engine

from tests.support.incidents_helpers import alert


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "i.duckdb", admin_channel=False) as e:
        yield e


def _incidents(engine: Engine) -> list[tuple[str, str, int, list[str]]]:
    """(category, rule that opened it, alert count, rules of its alerts) per incident."""
    rows = engine.query(
        "SELECT i.category, i.rule, i.alert_count, list(ia.rule ORDER BY ia.rule) AS rules "
        "FROM incidents i JOIN incident_alerts ia ON ia.incident_id = i.id "
        "GROUP BY i.id, i.category, i.rule, i.alert_count ORDER BY i.id"
    ).to_pylist()
    return [(r["category"], r["rule"], r["alert_count"], r["rules"]) for r in rows]


def test_a_security_alert_does_not_join_an_outage_of_the_same_service(engine):
    shop = {"service": "shop", "host": "web1"}
    engine.alerts.publish(alert("10:00", "http_down", "firing", "10:00", shop,
                                severity="critical", category="availability"))  # fmt: skip
    engine.alerts.publish(alert("10:02", "ssh_bruteforce", "firing", "10:01", shop,
                                severity="high", category="security", source="log"))  # fmt: skip
    # Same service, same categories, inside the window: each joins its own kind.
    engine.alerts.publish(alert("10:03", "backend_unreachable", "firing", "10:03", shop,
                                severity="high", category="availability"))  # fmt: skip
    engine.alerts.publish(alert("10:04", "sudo_abuse", "firing", "10:04", shop,
                                severity="medium", category="security", source="log"))  # fmt: skip
    assert _incidents(engine) == [
        ("outage", "http_down", 2, ["backend_unreachable", "http_down"]),
        ("security breach", "ssh_bruteforce", 2, ["ssh_bruteforce", "sudo_abuse"]),
    ]
    grouped = [e for e in engine.incidents.timeline(1) if e["kind"] == "grouped"]
    assert [e["detail"]["rule"] for e in grouped] == ["backend_unreachable"]


def test_grouping_by_host_also_keeps_categories_apart(engine):
    db9 = {"host": "db9"}  # no service label: grouped by host
    engine.alerts.publish(alert("10:00", "slow_queries", "firing", "10:00", db9,
                                category="performance"))  # fmt: skip
    engine.alerts.publish(alert("10:01", "config_changed", "firing", "10:01", db9,
                                category="config"))  # fmt: skip
    engine.alerts.publish(alert("10:02", "replication_lag", "firing", "10:02", db9,
                                category="performance"))  # fmt: skip
    assert _incidents(engine) == [
        ("degraded performance", "slow_queries", 2, ["replication_lag", "slow_queries"]),
        ("config", "config_changed", 1, ["config_changed"]),
    ]
