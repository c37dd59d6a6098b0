"""What ``opsengine run`` starts for configuration: the snapshotter (items from
``[[config.item]]``) and the inventory collector with its policy check, both at start."""

from __future__ import annotations

from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.sources import start_sources

from tests.support.inventory import dpkg_stanza, write_dist, write_status
from tests.support.sources_net import wait_for


def test_run_snapshots_declared_items_and_collects_the_inventory_at_start(tmp_path):
    conf = tmp_path / "etc" / "app.toml"
    conf.parent.mkdir()
    conf.write_text("[server]\nport = 8080\n")
    status = write_status(tmp_path / "status", dpkg_stanza("openssl", "3.0.11-1"))
    write_dist(tmp_path / "site", "requests", "2.32.3")
    settings = Settings()
    for source in (settings.files, settings.syslog, settings.host):
        source.enabled = False
    settings.config.item = [{"name": "app", "paths": [str(conf)], "env": "prod"}]
    settings.inventory.dpkg_status = str(status)
    settings.inventory.python_paths = [str(tmp_path / "site")]
    settings.inventory.policies = ["openssl >= 3.0.13"]
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        running = start_sources(engine, settings)
        try:
            assert wait_for(lambda: running.status()["config_snapshots"]["runs"] >= 1)
            assert wait_for(lambda: running.status()["inventory"]["runs"] >= 1, timeout=120)
            inventory = running.status()["inventory"]
            assert inventory["last"]["violations"] == 1 and inventory["last"]["errors"] == []
            assert running.status()["config_snapshots"]["new_versions"] == 1
        finally:
            running.stop()
        assert [v["version"] for v in engine.config.versions("app")] == [1]
        names = {(s["kind"], s["name"]) for s in engine.inventory.software()}
        assert {("deb", "openssl"), ("python", "requests")} <= names
        assert any(kind == "process" for kind, _ in names)
        assert {h["kind"] for h in engine.inventory.hardware()} >= {"cpu", "memory", "nic"}
        [violation] = engine.inventory.compliance("violation")
        assert violation["installed"] == "3.0.11-1"
