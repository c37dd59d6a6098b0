"""Rule files and `opsengine rules check`: every fault is reported with its file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opsengine import RuleError, RuleSet
from opsengine.rules import default_pack_paths, load_rule_files

GOOD = """\
- name: ssh_fail
  kind: log
  severity: high
  category: security
  summary: Failed SSH password for {user} from {rhost}
  pattern: 'Failed password for (?P<user>\\S+) from (?P<rhost>\\S+)'
  threshold: {count: 5, within: 1m, by: [rhost]}
  labels: {team: platform}
- name: disk_full
  severity: critical
  category: availability
  summary: Disk full
  pattern: 'literal:No space left on device'
"""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opsengine.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_good_file_loads_with_thresholds_and_labels(tmp_path: Path):
    f = tmp_path / "good.yaml"
    f.write_text(GOOD)
    rs = RuleSet.from_yaml(f)
    assert rs.names == ["ssh_fail", "disk_full"]
    ssh = rs["ssh_fail"]
    assert (ssh.threshold.count, ssh.threshold.within, ssh.threshold.by) == (5, 60.0, ("rhost",))
    assert ssh.fields == ("user", "rhost") and ssh.labels == {"team": "platform"}
    assert rs["disk_full"].literal and rs["disk_full"].line == 9
    assert run_cli("rules", "check", str(f)).returncode == 0


@pytest.mark.parametrize(
    ("mutation", "line", "message"),
    [
        (("severity: high", "severity: urgent"), 3, "'severity' must be one of"),
        (("category: security", "category: sec"), 4, "'category' must be one of"),
        (
            (
                "  threshold: {count: 5, within: 1m, by: [rhost]}",
                "  threshold: {count: 5, within: 1 minute}",
            ),
            7,
            "invalid duration",
        ),
        (("by: [rhost]", "by: [port]"), 7, "'threshold.by' names 'port'"),
        (("  labels: {team: platform}", "  labelz: {team: platform}"), 8, "unknown key 'labelz'"),
        (("(?P<rhost>\\S+)'", "(?P<rhost>\\S+'"), 6, "invalid pattern"),
        (("  pattern: 'literal:No space left on device'", "  pattern: ''"), 13, "needs 'pattern'"),
    ],
)
def test_each_fault_names_file_line_and_rule(tmp_path: Path, mutation, line, message):
    old, new = mutation
    assert old in GOOD, old
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(RuleError) as e:
        RuleSet.from_yaml(f)
    assert str(e.value).startswith(f"{f}:{line}: rule '"), str(e.value)
    assert message in str(e.value)
    proc = run_cli("rules", "check", str(f))
    assert proc.returncode == 2
    assert f"{f}:{line}: rule '" in proc.stderr and message in proc.stderr
    assert proc.stdout == ""  # nothing loaded, nothing reported as ok


def test_duplicate_names_across_files_point_at_both(tmp_path: Path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(GOOD)
    b.write_text(GOOD.split("- name: disk_full")[0])
    with pytest.raises(
        RuleError, match=rf"{b}:1: rule 'ssh_fail': duplicate rule name \(first defined at {a}:1\)"
    ):
        load_rule_files([a, b])


def test_broken_yaml_and_wrong_shapes(tmp_path: Path):
    f = tmp_path / "x.yaml"
    f.write_text("- name: a\n  pattern: [unclosed\n")
    with pytest.raises(RuleError, match=rf"^{f}:\d+: invalid YAML"):
        load_rule_files([f])
    f.write_text("name: a\n")
    with pytest.raises(RuleError, match="one YAML list of rules"):
        load_rule_files([f])
    f.write_bytes(b"- name: \xff\n")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rule_files([f])
    with pytest.raises(RuleError, match="cannot read"):
        load_rule_files([tmp_path / "missing.yaml"])


def test_default_pack_is_valid_and_large_enough():
    paths = default_pack_paths()
    assert paths, "the default pack ships with the package"
    rs = RuleSet.from_yaml(paths)
    log_rules = [r for r in rs if r.kind == "log"]
    assert len(log_rules) >= 60
    assert {r.severity for r in rs} <= {"critical", "high", "medium", "low", "info"}
    # Every default log rule has a literal to prefilter on: none slows every line.
    assert rs.plan()["always_checked_rules"] == []
    proc = run_cli("rules", "check")
    assert proc.returncode == 0 and proc.stdout.startswith("ok: ")


def test_rules_test_command_shows_what_fires(tmp_path: Path):
    log = tmp_path / "auth.log"
    log.write_text(
        "Jun 14 15:16:01 combo sshd[19939]: Failed password for root from 1.2.3.4 port 22 ssh2\n"
        "Jun 14 15:16:02 combo sshd[19939]: Accepted password for root\n"
    )
    rules = tmp_path / "r.yaml"
    rules.write_text(GOOD)
    proc = run_cli("rules", "test", str(log), "--rules", str(rules))
    assert proc.returncode == 0, proc.stderr
    assert "2 lines, 1 matches, 1 of 2 rules fired" in proc.stdout
    assert f"ssh_fail  {log}:1:" in proc.stdout
