"""Alerts → incidents: dedup, grouping, flap damping, auto-resolve, priorities, operator
actions with their timeline, and bad input refused with nothing changed."""

from __future__ import annotations

import pytest
from opsengine.engine import Engine
from opsengine.incidents import IncidentError, IncidentNotFound, InvalidTransition, priority

from tests.support.incidents_helpers import alert, at


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "i.duckdb", admin_channel=False) as e:
        yield e


def test_priority_follows_the_impact_urgency_matrix():
    grid = [[priority(i, u) for u in ("high", "medium", "low")] for i in ("high", "medium", "low")]
    assert grid == [["P1", "P2", "P3"], ["P2", "P3", "P4"], ["P3", "P4", "P5"]]
    with pytest.raises(IncidentError, match="impact must be one of high, medium, low"):
        priority("huge", "low")


def test_repeats_of_one_alert_update_the_open_incident_instead_of_opening_another(engine):
    labels = {"host": "web1", "rhost": "198.51.100.4"}
    for minute, since in (("10:00", "09:59"), ("10:05", "10:04"), ("10:05", "10:04")):
        engine.alerts.publish(alert(minute, "ssh_bruteforce", "firing", since, labels,
                                    severity="high", category="security", source="log"))  # fmt: skip
    [inc] = engine.incidents.list()
    assert (inc["alert_count"], inc["last_seen_at"], inc["started_at"]) == (
        2,
        at("10:05"),
        at("09:59"),
    )
    assert [ev["kind"] for ev in engine.incidents.timeline(inc["id"])] == [
        "opened",
        "notify",
        "repeated",
    ]


def test_alerts_of_one_service_within_the_window_are_grouped_and_raise_priority(engine):
    engine.alerts.publish(alert("10:00", "slow_queries", "firing", "10:00", {"service": "db"},
                                severity="low"))  # fmt: skip
    engine.alerts.publish(alert("10:04", "replication_lag", "firing", "10:03", {"service": "db"},
                                severity="critical"))  # fmt: skip
    # Six minutes after the last alert of the group: a new incident.
    engine.alerts.publish(alert("10:10", "conn_refused", "firing", "10:10", {"service": "db"}))
    incidents = {i["id"]: i for i in engine.incidents.list()}
    assert sorted(incidents) == [1, 2]
    assert (incidents[1]["alert_count"], incidents[1]["priority"]) == (2, "P1")
    grouped = engine.incidents.timeline(1)[-1]
    assert grouped["kind"] == "grouped"
    assert grouped["detail"]["priority"] == {"from": "P5", "to": "P1"}


def test_an_incident_resolves_when_all_its_alerts_do_unless_the_rule_says_not(engine):
    web = {"service": "web"}
    engine.alerts.publish(alert("10:00", "http_5xx", "firing", "10:00", web))
    engine.alerts.publish(alert("10:01", "latency", "firing", "10:01", web))
    engine.alerts.publish(alert("10:05", "http_5xx", "resolved", "10:00", web))
    assert engine.incidents.get(1)["state"] == "triggered"  # latency still firing
    engine.alerts.publish(alert("10:07", "latency", "resolved", "10:01", web))
    assert (engine.incidents.get(1)["state"], engine.incidents.get(1)["resolved_at"]) == (
        "resolved",
        at("10:07"),
    )
    manual = {"auto_resolve": "false"}
    engine.alerts.publish(alert("11:00", "fs_corrupt", "firing", "11:00", {"host": "db9"},
                                annotations=manual))  # fmt: skip
    engine.alerts.publish(alert("11:05", "fs_corrupt", "resolved", "11:00", {"host": "db9"}))
    assert engine.incidents.get(2)["state"] == "triggered"
    assert engine.incidents.get(2)["alerts"][0]["state"] == "resolved"


def test_flapping_alerts_reopen_one_incident_and_are_damped(engine):
    labels = {"host": "edge1"}
    times = [("08:00", "08:02"), ("08:10", "08:12"), ("08:20", "08:22"), ("08:30", "08:32")]
    for fire, clear in times:
        engine.alerts.publish(alert(fire, "link_down", "firing", fire, labels))
        engine.alerts.publish(alert(clear, "link_down", "resolved", fire, labels))
    [inc] = engine.incidents.list()
    assert (inc["flap_count"], inc["flapping"], inc["alert_count"], inc["state"]) == (
        3,
        True,
        4,
        "resolved",
    )
    assert inc["resolved_at"] == at("08:32")
    # Over an hour later the same alert is a new incident.
    engine.alerts.publish(alert("09:40", "link_down", "firing", "09:40", labels))
    assert [i["id"] for i in engine.incidents.list()] == [2, 1]


def test_operators_move_incidents_through_their_states_with_a_timeline(engine):
    engine.alerts.publish(alert("10:00", "disk_full", "firing", "09:50", {"host": "fs1"},
                                severity="high"))  # fmt: skip
    inc = engine.incidents
    inc.acknowledge(1, actor="ann", at=at("10:03"))
    inc.assign(1, "ben", actor="ann", at=at("10:04"))
    inc.add_note(1, "cleaning /var/log", actor="ben", at=at("10:10"))
    inc.resolve(1, actor="ben", at=at("10:20"), note="rotated logs")
    inc.reopen(1, actor="ann", at=at("10:40"), note="filled again")
    inc.acknowledge(1, actor="ben", at=at("10:41"))
    inc.resolve(1, actor="ben", at=at("11:00"))
    inc.close(1, actor="ann", at=at("12:00"))
    got = inc.get(1)
    # MTTA counts the first acknowledgement; MTTR the final resolution.
    assert (got["acknowledged_at"], got["resolved_at"], got["closed_at"]) == (
        at("10:03"),
        at("11:00"),
        at("12:00"),
    )
    trail = [(e["actor"], e["kind"], e["detail"].get("to")) for e in inc.timeline(1)]
    assert trail == [
        ("system", "opened", None), ("system", "notify", None),
        ("ann", "state", "acknowledged"), ("ann", "assigned", "ben"), ("ben", "note", None),
        ("ben", "state", "resolved"), ("ann", "state", "triggered"), ("system", "notify", None),
        ("ben", "state", "acknowledged"), ("ben", "state", "resolved"), ("ann", "state", "closed"),
    ]  # fmt: skip


def test_bad_actions_are_refused_and_change_nothing(engine):
    engine.alerts.publish(alert("10:00", "disk_full", "firing", "10:00", {"host": "fs1"}))
    before = engine.query("SELECT * FROM incidents").to_pylist()
    events = engine.query("SELECT count(*) AS n FROM incident_events").to_pylist()
    with pytest.raises(IncidentNotFound, match="incident 42: no such incident"):
        engine.incidents.acknowledge(42, actor="ann")
    with pytest.raises(InvalidTransition, match="cannot move from triggered to closed"):
        engine.incidents.close(1, actor="ann")
    with pytest.raises(IncidentError, match="note: at most 10000 characters"):
        engine.incidents.add_note(1, "x" * 10_001, actor="ann")
    with pytest.raises(IncidentError, match="actor: required"):
        engine.incidents.acknowledge(1, actor="")
    with pytest.raises(IncidentError, match="state must be one of"):
        engine.incidents.list(state="sleeping")
    with pytest.raises(IncidentError, match="category must be one of"):
        engine.incidents.create("x", actor="ann", category="vibes")
    with pytest.raises(IncidentError, match=r"started_at .* is after the detection time"):
        engine.incidents.create("x", actor="ann", started_at=at("10:05"), at=at("10:00"))
    engine.incidents.acknowledge(1, actor="ann", at=at("10:01"))
    with pytest.raises(InvalidTransition, match="from acknowledged to acknowledged"):
        engine.incidents.acknowledge(1, actor="ann")
    after = engine.query("SELECT * EXCLUDE (state, acknowledged_at, updated_at) FROM incidents")
    assert after.to_pylist() == [
        {k: v for k, v in before[0].items() if k not in ("state", "acknowledged_at", "updated_at")}
    ]
    n = engine.query("SELECT count(*) AS n FROM incident_events").to_pylist()[0]["n"]
    assert n == events[0]["n"] + 1  # only the acknowledgement


def test_a_host_down_incident_inhibits_the_hosts_other_incidents_only(engine):
    engine.alerts.publish(alert("10:00", "host_down", "firing", "10:00", {"host": "db1"}))
    engine.alerts.publish(
        alert("10:01", "disk_io", "firing", "10:01", {"host": "db1", "service": "s"})
    )
    engine.alerts.publish(
        alert("10:01", "disk_io", "firing", "10:01", {"host": "db2", "service": "t"})
    )
    engine.alerts.publish(alert("10:30", "host_down", "resolved", "10:00", {"host": "db1"}))
    engine.alerts.publish(alert("10:31", "cpu", "firing", "10:31", {"host": "db1", "service": "u"}))
    supp = {i["id"]: i["suppressed_by"] for i in engine.incidents.list()}
    assert supp == {1: None, 2: "inhibition: incident 1 (host_down) on host db1", 3: None, 4: None}


def test_incident_settings_come_from_the_settings_file_and_bad_ones_name_the_key(tmp_path):
    from opsengine.config import ConfigError, load_settings

    toml = tmp_path / "opsengine.toml"
    toml.write_text('[incidents]\ngroup_window = "1m"\nflap_threshold = 2\n', encoding="utf-8")
    settings = load_settings(toml, env={})
    with Engine(tmp_path / "s.duckdb", settings, admin_channel=False) as e:
        assert (e.incidents.group_window, e.incidents.settings.flap_threshold) == (60.0, 2)
        e.alerts.publish(alert("10:00", "a", "firing", "10:00", {"service": "db"}))
        e.alerts.publish(alert("10:02", "b", "firing", "10:02", {"service": "db"}))
        assert len(e.incidents.list()) == 2  # two minutes apart: beyond a 1m window
    toml.write_text('[incidents]\ngroup_window = "five minutes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[incidents\] group_window: invalid duration"):
        Engine(tmp_path / "t.duckdb", load_settings(toml, env={}), admin_channel=False)
