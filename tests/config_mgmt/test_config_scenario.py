"""Configuration management as an operator lives it: staging and prod copies of real YAML,
TOML and sshd-style files in a temporary directory, baselines approved, one key changed in
prod — and the versions, diff, drift alert, audit trail and incident that follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.incidents.review import render_markdown
from opsengine.store.named_queries import run_query

APP_YAML = """\
db:
  host: {db_host}
  port: 5432
  pool: 20
workers: 4
features: [search, export]
"""
SERVICE_TOML = """\
[server]
listen = "0.0.0.0:8080"
timeout_s = 30

[database]
url = "postgres://{db_host}/app"
"""
SSHD_CONFIG = """\
# managed by ops
Port 22
PermitRootLogin no
PasswordAuthentication no
AllowUsers deploy ops
Match User deploy
    AllowTcpForwarding no
"""
FILES = {
    "app": ("app.yaml", APP_YAML, ["db.host"]),
    "service": ("service.toml", SERVICE_TOML, ["database.url"]),
    "sshd": ("sshd_config", SSHD_CONFIG, []),
}


def _write_env(root: Path, env: str) -> dict[str, Path]:
    folder = root / env
    folder.mkdir()
    out = {}
    for item, (name, text, _) in FILES.items():
        out[item] = folder / name
        out[item].write_text(text.format(db_host=f"db.{env}.internal"))
    return out


def _config_alerts(engine: Engine) -> list[dict]:
    rows = engine.query(
        "SELECT rule, state, labels, annotations, category, source FROM alerts "
        "WHERE category = 'config' ORDER BY rule"
    ).to_pylist()
    for r in rows:
        r["labels"], r["annotations"] = dict(r["labels"]), dict(r["annotations"])
    return rows


@pytest.fixture
def tracked(tmp_path):
    """Six items (three files × two environments) tracked, snapshotted and approved."""
    paths = {env: _write_env(tmp_path, env) for env in ("staging", "prod")}
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        for env in ("staging", "prod"):
            for item, (_, _, vary) in FILES.items():
                engine.config.track(item, [str(paths[env][item])], env=env, vary=vary, actor="ann")
        first = engine.config.snapshot()
        assert [(r["item"], r["env"], r["version"], r["changed"]) for r in first] == [
            (item, env, 1, True) for env in ("staging", "prod") for item in FILES
        ]
        for env in ("staging", "prod"):
            for item in FILES:
                engine.config.approve(item, env, actor="ann")
        yield engine, paths


def test_a_key_changed_in_prod_is_versioned_diffed_alerted_audited_and_opens_an_incident(tracked):
    engine, paths = tracked
    # The copies differ only in db.host / database.url, declared in vary: no drift at all.
    assert engine.config.drift() == []
    assert _config_alerts(engine) == []
    before = datetime.now(UTC)

    sshd = paths["prod"]["sshd"]
    sshd.write_text(sshd.read_text().replace("PermitRootLogin no", "PermitRootLogin yes"))
    second = engine.config.snapshot()
    assert [(r["item"], r["env"]) for r in second if r["changed"]] == [("sshd", "prod")]

    versions = engine.config.versions("sshd", "prod")
    assert [(v["version"], v["author"], v["baseline"]) for v in versions] == [
        (1, "file system", True),
        (2, "file system", False),
    ]
    assert versions[0]["hash"] != versions[1]["hash"]

    diff = engine.config.diff("sshd", "prod")  # from the baseline to the latest
    assert (diff["from"], diff["to"]) == (1, 2)
    assert [(k["key"], k["change"], k["old"], k["new"]) for k in diff["keys"]] == [
        ("PermitRootLogin", "changed", '"no"', '"yes"')
    ]
    assert "-PermitRootLogin no\n+PermitRootLogin yes\n" in diff["unified"]
    assert diff["unified"].startswith(f"--- {sshd}@v1\n+++ {sshd}@v2\n")

    [alert] = _config_alerts(engine)
    assert (alert["rule"], alert["state"], alert["source"]) == ("config_drift", "firing", "config")
    assert alert["labels"] == {"item": "sshd", "env": "prod"}
    assert "differs from approved v1: PermitRootLogin" in alert["annotations"]["description"]
    assert "differs from staging" in alert["annotations"]["description"]

    changes = engine.config.audit(env="prod")
    assert [(c["kind"], c["item"]) for c in changes if c["kind"] == "changed"] == [
        ("changed", "sshd")
    ]
    change = changes[0]
    assert (change["from_version"], change["to_version"], change["actor"]) == (1, 2, "file system")
    assert change["approved"] is False
    assert change["key_changes"][0]["key"] == "PermitRootLogin"
    assert "+PermitRootLogin yes" in change["diff"]
    assert engine.config.audit(env="staging", kinds=("changed",)) == []
    assert sorted(c["kind"] for c in engine.config.audit(item="sshd")) == [
        "approved", "approved", "changed", "tracked", "tracked",
    ]  # fmt: skip
    assert engine.config.audit(since=datetime.now(UTC) + timedelta(minutes=1)) == []

    sql = run_query(engine.store, "config_changes", {"env": "prod", "from": before}).to_pylist()
    assert [(r["item"], r["env"], r["to_version"]) for r in sql] == [("sshd", "prod", 2)]
    assert run_query(engine.store, "config_changes", {"env": "staging"}).num_rows == 0
    assert json.loads(sql[0]["key_changes"])[0]["new"] == '"yes"'

    [incident] = engine.incidents.list()
    assert (incident["rule"], incident["category"], incident["state"]) == (
        "config_drift", "config", "triggered",
    )  # fmt: skip
    review = engine.incidents.review(incident["id"])
    [listed] = review["changes_before"]["config_changes"]
    assert (listed["item"], listed["env"], listed["to_version"]) == ("sshd", "prod", 2)
    assert "config sshd (prod) v1 → v2 by file system: PermitRootLogin" in render_markdown(review)

    # Approving the change in prod alone leaves prod different from staging: still drift.
    engine.config.approve("sshd", "prod", version=2, actor="bob")
    [alert] = _config_alerts(engine)
    assert alert["state"] == "firing"
    assert "from approved" not in alert["annotations"]["description"]
    approvals = engine.query(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'config approve sshd (prod)%' "
        "ORDER BY ts"
    ).to_pylist()
    assert approvals == [
        {"actor": "ann", "action": "config approve sshd (prod) v1"},
        {"actor": "bob", "action": "config approve sshd (prod) v2"},
    ]
    # Rolled back and the rollback approved: the alert resolves, and so does its incident.
    sshd.write_text(SSHD_CONFIG)
    engine.config.snapshot("sshd", "prod")
    assert engine.config.drift()[0]["kind"] == "baseline"  # v3 is not the approved v2
    engine.config.approve("sshd", "prod", actor="bob")
    assert engine.config.drift() == []
    assert [a["state"] for a in _config_alerts(engine)] == ["resolved"]
    assert engine.incidents.get(incident["id"])["state"] == "resolved"


def test_environments_may_differ_only_in_keys_declared_in_vary(tracked):
    engine, paths = tracked
    # Track the same files again without vary: db.host now counts as drift across envs.
    for env in ("staging", "prod"):
        engine.config.track("app-strict", [str(paths[env]["app"])], env=env, actor="ann")
    engine.config.snapshot("app-strict", "staging")
    engine.config.snapshot("app-strict", "prod")
    [found] = engine.config.drift()
    assert (found["item"], found["env"], found["kind"], found["against"]) == (
        "app-strict", "prod", "cross_env", "staging",
    )  # fmt: skip
    assert [k["key"] for k in found["keys"]] == ["db.host"]
    [alert] = _config_alerts(engine)
    assert alert["labels"] == {"item": "app-strict", "env": "prod"}

    # Declaring the key ends it.
    engine.config.track("app-strict", [str(paths["prod"]["app"])], env="prod", vary=["db"])
    engine.config.evaluate()
    assert engine.config.drift() == []
    assert [a["state"] for a in _config_alerts(engine)] == ["resolved"]


def test_a_change_to_an_unapproved_item_is_an_unapproved_change_until_approved(tmp_path):
    conf = tmp_path / "limits.env"
    conf.write_text("MAX_CONN=100\nAPI_TOKEN=abc123\n")
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("limits", [str(conf)], env="prod")
        engine.config.snapshot()
        assert _config_alerts(engine) == []  # the first version is no change
        conf.write_text("MAX_CONN=500\nAPI_TOKEN=xyz789\n")
        engine.config.snapshot(author="key:abc")
        [alert] = _config_alerts(engine)
        assert (alert["rule"], alert["state"]) == ("config_unapproved_change", "firing")
        diff = engine.config.diff("limits")
        assert [k["key"] for k in diff["keys"]] == ["API_TOKEN", "MAX_CONN"]
        # A secret's change shows, its value never does.
        for secret in ("abc123", "xyz789"):
            assert secret not in diff["unified"] and secret not in json.dumps(diff["keys"])
            assert secret not in json.dumps(engine.config.audit(), default=str)
        assert "<redacted:" in diff["keys"][0]["new"]
        assert engine.config.versions("limits")[1]["author"] == "key:abc"
        engine.config.approve("limits", actor="ann")
        assert [a["state"] for a in _config_alerts(engine)] == ["resolved"]


def test_items_declared_in_opsengine_toml_are_tracked(tmp_path):
    conf = tmp_path / "app.yaml"
    conf.write_text("a: 1\n")
    toml = tmp_path / "opsengine.toml"
    toml.write_text(
        f'[[config.item]]\nname = "app"\npaths = ["{conf}"]\nenv = "prod"\nvary = ["a"]\n'
    )
    from opsengine.config import load_settings

    with Engine(tmp_path / "ops.duckdb", load_settings(toml, env={}), admin_channel=False) as e:
        [item] = e.config.items()
        assert (item["name"], item["env"], item["vary"], item["origin"]) == (
            "app", "prod", ["a"], "config",
        )  # fmt: skip


def test_a_bad_config_item_in_opsengine_toml_names_its_place(tmp_path):
    from opsengine.config import ConfigError, load_settings

    toml = tmp_path / "opsengine.toml"
    toml.write_text('[[config.item]]\nname = "app"\npaths = []\nenv = "prod"\n')
    with pytest.raises(ConfigError, match=r"\[\[config.item\]\] #1.paths: expected one or more"):
        Engine(tmp_path / "ops.duckdb", load_settings(toml, env={}), admin_channel=False)


def test_drift_that_returns_after_it_was_resolved_opens_a_new_alert(tmp_path):
    conf = tmp_path / "app.yaml"
    conf.write_text("a: 1\n")
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("app", [str(conf)], env="prod")
        engine.config.snapshot()
        engine.config.approve("app", actor="ann")
        conf.write_text("a: 2\n")
        engine.config.snapshot()
        engine.config.approve("app", actor="ann")  # v2 approved: resolved
        engine.config.approve("app", version=1, actor="ann")  # back to v1: v2 drifts again
        states = [a["state"] for a in _config_alerts(engine)]
        assert sorted(states) == ["firing", "resolved"]
        # Within the flap window the incident it resolved reopens (incidents/correlation.py).
        [incident] = engine.incidents.list()
        assert incident["state"] == "triggered"
