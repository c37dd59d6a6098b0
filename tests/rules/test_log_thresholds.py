"""Log rules with `threshold:` raise alerts when N events of one key fall within a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsengine import RuleSet
from opsengine.cli import main
from opsengine.engine import Engine

RULES = [
    {
        "name": "ssh_brute_force",
        "kind": "log",
        "severity": "high",
        "category": "security",
        "summary": "Failed SSH passwords from {rhost} (last user {user})",
        "pattern": r"Failed password for (?P<user>\S+) from (?P<rhost>\S+) port",
        "threshold": {"count": 5, "within": "1m", "by": ["rhost"]},
        "labels": {"team": "security"},
    }
]
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def line(seconds: int, user: str, rhost: str) -> str:
    ts = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"<38>1 {ts} bastion sshd 812 - - Failed password for {user} from {rhost} port 52{seconds % 1000:03d} ssh2"


# Five failures from .9 within 40 s; .7 fails every 20 s (3 per minute: never 5 in a minute).
ATTACK = [line(t, f"u{t}", "10.0.0.9") for t in (0, 10, 20, 30, 40)]
SLOW = [line(t, "backup", "10.0.0.7") for t in range(0, 200, 20)]
LATER = [line(300, "admin", "10.0.0.5")]  # event time moves on: the burst has left its window


def stored_alerts(engine: Engine) -> list[dict]:
    return engine.query(
        "SELECT * FROM alerts WHERE source = 'log' ORDER BY active_since"
    ).to_pylist()


def test_a_burst_fires_once_and_resolves_when_it_leaves_the_window(tmp_path):
    rules = RuleSet.from_dicts(RULES)
    with Engine(tmp_path / "e.duckdb", rules=rules, admin_channel=False) as engine:
        engine.ingest_logs(SLOW[:3] + ATTACK)
        (alert,) = stored_alerts(engine)
        assert alert["state"] == "firing"
        assert dict(alert["labels"]) == {"rhost": "10.0.0.9", "team": "security"}
        assert (
            dict(alert["annotations"])["summary"]
            == "Failed SSH passwords from 10.0.0.9 (last user u40)"
        )
        assert (alert["active_since"], alert["fired_at"], alert["value"]) == (
            T0,
            T0 + timedelta(seconds=40),
            5.0,
        )
        engine.ingest_logs(SLOW[3:] + LATER)
        (alert,) = stored_alerts(engine)
        assert alert["state"] == "resolved"
        # The 5th newest event (at 0 s) left the 1-minute window at 60 s.
        assert alert["resolved_at"] == T0 + timedelta(seconds=60)


def test_windows_survive_a_restart_and_a_file_replays_the_same(tmp_path):
    rules = RuleSet.from_dicts(RULES)
    db = tmp_path / "restart.duckdb"
    with Engine(db, rules=rules, admin_channel=False) as engine:
        engine.ingest_logs(ATTACK[:3])
        assert stored_alerts(engine) == []
    with Engine(db, rules=rules, admin_channel=False) as engine:
        engine.ingest_logs(ATTACK[3:])
        (alert,) = stored_alerts(engine)
        assert (alert["state"], alert["active_since"]) == ("firing", T0)
        want = (alert["fingerprint"], alert["active_since"], alert["fired_at"])
        # A second engine start reads no event twice.
        assert engine.log_thresholds.poll() == 0

    log_file = tmp_path / "auth.log"
    log_file.write_text("\n".join(ATTACK + SLOW) + "\n")
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(
        "- name: ssh_brute_force\n  kind: log\n  severity: high\n  category: security\n"
        "  summary: 'Failed SSH passwords from {rhost} (last user {user})'\n"
        "  pattern: 'Failed password for (?P<user>\\S+) from (?P<rhost>\\S+) port'\n"
        "  threshold: {count: 5, within: 1m, by: [rhost]}\n  labels: {team: security}\n"
    )
    replay = tmp_path / "replay.duckdb"
    assert (
        main(["ingest", "logs", str(log_file), "--db", str(replay), "--rules", str(rule_file)]) == 0
    )
    with Engine(replay, rules=rules, admin_channel=False) as engine:
        (alert,) = stored_alerts(engine)
        assert (alert["fingerprint"], alert["active_since"], alert["fired_at"]) == want


def test_a_log_file_replayed_by_the_cli_opens_the_incident_the_live_engine_opens(tmp_path):
    """Issue 5: the whole pipeline runs wherever data enters — a file opens the same incident."""
    rules = RuleSet.from_dicts(RULES)
    live = tmp_path / "live.duckdb"
    with Engine(live, rules=rules, admin_channel=False) as engine:
        for text in ATTACK + SLOW + LATER:
            engine.ingest_logs([text])  # one line at a time, as a tail delivers them

    log_file = tmp_path / "auth.log"
    log_file.write_text("\n".join(ATTACK + SLOW + LATER) + "\n")
    rule_file = tmp_path / "rules.yaml"
    import yaml

    rule_file.write_text(yaml.safe_dump(RULES))
    replay = tmp_path / "replay.duckdb"
    assert (
        main(["ingest", "logs", str(log_file), "--db", str(replay), "--rules", str(rule_file)]) == 0
    )

    def incidents(db) -> list[tuple]:
        with Engine(db, rules=rules, admin_channel=False) as engine:
            return [
                (r["rule"], r["category"], r["state"], r["started_at"], r["alert_count"])
                for r in engine.query("SELECT * FROM incidents ORDER BY started_at").to_pylist()
            ]

    opened = incidents(live)
    assert [(r[0], r[1], r[3]) for r in opened] == [("ssh_brute_force", "security breach", T0)]
    assert incidents(replay) == opened
