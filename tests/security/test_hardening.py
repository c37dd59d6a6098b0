"""Hardening checks on files written here: effective sshd_config settings following
Include (first value wins, Match blocks are conditional), world-writable files and
readable private keys under tracked paths; an unreadable sshd_config is a check error."""

from __future__ import annotations

import os

from opsengine.config import Settings
from opsengine.engine import Engine
from opsengine.security.hardening import sshd_settings


def _tree(tmp_path):
    ssh = tmp_path / "ssh"
    (ssh / "sshd_config.d").mkdir(parents=True)
    (ssh / "sshd_config.d" / "10-local.conf").write_text(
        "# local\nPermitRootLogin yes\nX11Forwarding yes\n"
    )
    (ssh / "sshd_config").write_text(
        "Port 22\nInclude sshd_config.d/*.conf\nPermitRootLogin no\n"
        "PasswordAuthentication no\nMatch User backup\n  PermitEmptyPasswords yes\n"
    )
    tracked = tmp_path / "etc"
    tracked.mkdir()
    (tracked / "app.conf").write_text("x = 1\n")
    os.chmod(tracked / "app.conf", 0o666)
    (tracked / "ok.conf").write_text("y = 2\n")
    os.chmod(tracked / "ok.conf", 0o644)
    (tracked / "id_ed25519").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    os.chmod(tracked / "id_ed25519", 0o644)
    return ssh, tracked


def test_effective_sshd_settings_follow_include(tmp_path):
    ssh, _ = _tree(tmp_path)
    got = sshd_settings(ssh / "sshd_config")
    inc = str(ssh / "sshd_config.d" / "10-local.conf")
    assert got["permitrootlogin"] == ("yes", inc, 2)  # the Include came first: it wins
    assert got["passwordauthentication"] == ("no", str(ssh / "sshd_config"), 4)
    assert "permitemptypasswords" not in got  # only inside Match


def test_hardening_findings_with_file_and_line_and_check_errors(tmp_path):
    ssh, tracked = _tree(tmp_path)
    settings = Settings()
    settings.security.sshd_config = str(ssh / "sshd_config")
    settings.security.tracked_paths = [str(tracked)]
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        report = engine.security.scan()
        found = {(f["cause"], f["evidence"]["file"], f["evidence"]["line"])
                 for f in engine.security.list(kind="hardening")}  # fmt: skip
        inc = str(ssh / "sshd_config.d" / "10-local.conf")
        assert found == {
            ("sshd_permit_root_login", inc, 2),
            ("sshd_x11_forwarding", inc, 3),
            ("world_writable_file", str(tracked / "app.conf"), None),
            ("private_key_readable", str(tracked / "id_ed25519"), 1),
        }
        assert len(report["opened"]) == 4
        # fix the key's mode: the next scan mitigates that finding only
        os.chmod(tracked / "id_ed25519", 0o600)
        again = engine.security.scan()
        key = engine.security.list(kind="hardening", state="mitigated")
        assert [f["cause"] for f in key] == ["private_key_readable"]
        assert again["closed"] == [key[0]["id"]]
        # an sshd_config that cannot be read is a check error, and closes nothing
        settings.security.sshd_config = str(tmp_path)  # a directory: not readable as a file
        third = engine.security.scan()
        assert any("cannot read sshd_config" in e and str(tmp_path) in e for e in third["errors"])
        assert third["closed"] == []
        assert len(engine.security.list(kind="hardening", state="open")) == 3
