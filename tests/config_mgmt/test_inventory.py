"""The inventory from a dpkg status file and a site-packages directory written here, this
machine's processes, ports and hardware, and version policies judged against it."""

from __future__ import annotations

import os
import re
import socket
import sys

import psutil
import pytest
from opsengine.config import ConfigError, Settings, load_settings
from opsengine.config_mgmt import PolicyError, VersionPolicy
from opsengine.engine import Engine

from tests.support.inventory import dpkg_stanza, write_dist, write_status


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as e:
        yield e


def _policy_alerts(engine):
    rows = engine.query(
        "SELECT state, labels FROM alerts WHERE rule = 'version_policy_violation' ORDER BY fingerprint"
    ).to_pylist()
    return sorted((dict(r["labels"])["package"], r["state"]) for r in rows)


def test_software_inventory_history_and_version_policies(engine, tmp_path):
    status = write_status(
        tmp_path / "status",
        dpkg_stanza("openssl", "3.0.11-1~deb12u2"),
        dpkg_stanza("bash", "5.2.15-2+b2"),
        dpkg_stanza("libc6", "2.36-9+deb12u4"),
        dpkg_stanza("libc6", "2.36-9+deb12u4", arch="i386"),
        dpkg_stanza("old-tool", "1.0-1", status="deinstall ok config-files"),
    )
    site = tmp_path / "site-packages"
    write_dist(site, "requests", "2.31.0")
    write_dist(site, "Flask-Login", "0.6.3")

    run = engine.inventory.collect(
        host="web-1", kinds=["deb", "python"], dpkg_status=str(status), python_paths=[str(site)]
    )
    assert run["errors"] == [] and run["changes"] == {"appeared": 6, "changed": 0, "gone": 0}
    software = {(s["kind"], s["name"]): s["version"] for s in engine.inventory.software("web-1")}
    assert software == {
        ("deb", "bash"): "5.2.15-2+b2",
        ("deb", "libc6"): "2.36-9+deb12u4",
        ("deb", "libc6:i386"): "2.36-9+deb12u4",
        ("deb", "openssl"): "3.0.11-1~deb12u2",
        ("python", "flask-login"): "0.6.3",
        ("python", "requests"): "2.31.0",
    }
    [flask] = engine.inventory.software("web-1", "python")[:1]
    assert flask["detail"] == {"name": "Flask-Login", "path": str(site)}

    for expr in ("openssl >= 3.0.13", "python:requests >= 2.32", "deb:bash >= 5.2",
                 "python:flask_login < 1", "python:absent >= 1"):  # fmt: skip
        engine.inventory.add_policy(expr, actor="admin")
    results = {r["expression"]: (r["status"], r["installed"]) for r in engine.inventory.check()}
    assert results == {
        # 3.0.11 with revision 1~deb12u2 is older than 3.0.13, whatever the revisions say.
        "openssl >= 3.0.13": ("violation", "3.0.11-1~deb12u2"),
        "python:requests >= 2.32": ("violation", "2.31.0"),
        "deb:bash >= 5.2": ("compliant", "5.2.15-2+b2"),
        "python:flask_login < 1": ("compliant", "0.6.3"),
        "python:absent >= 1": ("not_installed", None),
    }
    assert _policy_alerts(engine) == [("openssl", "firing"), ("requests", "firing")]
    assert {i["category"] for i in engine.incidents.list()} == {"config"}
    assert [r["expression"] for r in engine.inventory.compliance("violation")] == [
        "openssl >= 3.0.13", "python:requests >= 2.32",
    ]  # fmt: skip

    # The next run: openssl upgraded, bash removed, curl installed, requests upgraded.
    write_status(
        status,
        dpkg_stanza("openssl", "3.0.13-1~deb12u1"),
        dpkg_stanza("curl", "7.88.1-10+deb12u5"),
        dpkg_stanza("libc6", "2.36-9+deb12u4"),
        dpkg_stanza("libc6", "2.36-9+deb12u4", arch="i386"),
    )
    write_dist(site, "requests", "2.32.3")
    run = engine.inventory.collect(
        host="web-1", kinds=["deb", "python"], dpkg_status=str(status), python_paths=[str(site)]
    )
    assert run["changes"] == {"appeared": 1, "changed": 2, "gone": 1}
    history = {
        (h["name"], h["change"], h["old_version"], h["new_version"])
        for h in engine.inventory.history("web-1")
        if h["ts"] == run["ts"]
    }
    assert history == {
        ("openssl", "changed", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
        ("bash", "gone", "5.2.15-2+b2", None),
        ("curl", "appeared", None, "7.88.1-10+deb12u5"),
        ("requests", "changed", "2.31.0", "2.32.3"),
    }
    results = {r["expression"]: r["status"] for r in engine.inventory.check()}
    assert results["openssl >= 3.0.13"] == results["python:requests >= 2.32"] == "compliant"
    assert results["deb:bash >= 5.2"] == "not_installed"
    assert _policy_alerts(engine) == [("openssl", "resolved"), ("requests", "resolved")]


def test_an_unreadable_status_file_is_recorded_and_keeps_the_packages(engine, tmp_path):
    status = write_status(tmp_path / "status", dpkg_stanza("openssl", "3.0.13-1"))
    engine.inventory.collect(host="h", kinds=["deb"], dpkg_status=str(status))
    missing = tmp_path / "gone" / "status"
    run = engine.inventory.collect(host="h", kinds=["deb"], dpkg_status=str(missing))
    assert run["errors"] == [
        f"deb: {missing}: cannot read the dpkg status file: No such file or directory"
    ]
    assert [s["name"] for s in engine.inventory.software("h")] == ["openssl"]
    assert engine.inventory.runs("h")[0]["errors"] == run["errors"]


def test_a_malformed_status_file_names_the_line(engine, tmp_path):
    status = tmp_path / "status"
    status.write_text(
        dpkg_stanza("openssl", "3.0.13-1") + "\nStatus: install ok installed\nVersion: 1\n"
    )
    run = engine.inventory.collect(host="h", kinds=["deb"], dpkg_status=str(status))
    assert run["errors"] == [f"deb: {status}:11: a stanza without a Package field"]


def test_this_hosts_processes_ports_and_hardware(engine):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        run = engine.inventory.collect(
            kinds=["process", "port", "cpu", "memory", "nic", "filesystem"]
        )
    assert run["errors"] == []
    software = {(s["kind"], s["name"]): s for s in engine.inventory.software()}
    assert ("process", os.path.realpath(sys.executable)) in software
    assert ("port", f"tcp/127.0.0.1:{port}") in software
    hardware = {(h["kind"], h["name"]): h["detail"] for h in engine.inventory.hardware()}
    assert hardware["cpu", "cpu"]["logical"] == psutil.cpu_count()
    assert hardware["memory", "memory"]["total_bytes"] == psutil.virtual_memory().total
    assert ("nic", "lo") in hardware
    assert any(k == "filesystem" for k, _ in hardware)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("openssl >>= 3.0", "expected [deb:|python:]NAME OP VERSION"),
        ("openssl", "expected [deb:|python:]NAME OP VERSION"),
        ("rpm:openssl >= 3.0", "unknown ecosystem 'rpm'"),
        ("python:requests >= two", "not a PEP 440 version"),
        ("openssl >= 3.0:", "epoch '3.0' is not a number"),
        ("OpenSSL >= 3.0", "not a Debian package name"),
    ],
)
def test_an_invalid_policy_expression_is_an_error_naming_it(engine, expression, message):
    with pytest.raises(PolicyError, match=re.escape(message)) as e:
        engine.inventory.add_policy(expression)
    assert repr(expression) in str(e.value)
    assert engine.inventory.policies() == []


def test_an_invalid_policy_in_opsengine_toml_names_its_place(tmp_path):
    toml = tmp_path / "opsengine.toml"
    toml.write_text('[inventory]\npolicies = ["openssl >= 3.0.13", "curl >="]\n')
    with pytest.raises(ConfigError, match=r"\[inventory\] policies #2: policy 'curl >='"):
        Engine(tmp_path / "ops.duckdb", load_settings(toml, env={}), admin_channel=False)


def test_policy_comparison_uses_dpkg_order():
    policy = VersionPolicy.parse("openssl >= 1:1.0")
    assert policy.allows("1:1.0~rc1") is False
    assert policy.allows("2:0.1") is True
    assert policy.allows("9.9") is False  # epoch 0
