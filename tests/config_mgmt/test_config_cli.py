"""``opsengine config …`` and ``opsengine inventory …`` on a real DuckDB file."""

from __future__ import annotations

import json

from opsengine.cli import main

from tests.support.inventory import dpkg_stanza, write_status


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_track_snapshot_diff_approve_drift_and_audit_from_the_command_line(tmp_path, capsys):
    db = str(tmp_path / "ops.duckdb")
    conf = tmp_path / "sshd_config"
    conf.write_text("Port 22\nPermitRootLogin no\n")
    code, out, _ = _run(capsys, "config", "track", "sshd", str(conf), "--env", "prod", "--db", db)
    assert code == 0 and "sshd (prod): v1 new version" in out
    assert _run(capsys, "config", "approve", "sshd", "--db", db)[0] == 0
    conf.write_text("Port 22\nPermitRootLogin yes\n")
    code, out, _ = _run(capsys, "config", "snapshot", "--db", db)
    assert (code, out) == (0, "sshd (prod): v2 new version\n")

    code, out, _ = _run(capsys, "config", "versions", "sshd", "--db", db, "--json")
    assert [(v["version"], v["baseline"]) for v in json.loads(out)] == [(1, True), (2, False)]
    code, out, _ = _run(capsys, "config", "diff", "sshd", "--from", "1", "--to", "2", "--db", db)
    assert '# changed PermitRootLogin: "no" → "yes"' in out and "+PermitRootLogin yes" in out

    code, out, _ = _run(capsys, "config", "drift", "--db", db, "--json")
    assert code == 3 and [d["kind"] for d in json.loads(out)] == ["baseline"]
    code, out, _ = _run(capsys, "config", "audit", "--since", "1h", "--db", db, "--json")
    assert [r["kind"] for r in json.loads(out)] == ["changed", "approved", "tracked"]
    assert json.loads(out)[1]["actor"].startswith("cli:")

    code, out, _ = _run(capsys, "incidents", "review", "1", "--db", db)
    assert "config sshd (prod) v1 → v2" in out

    code, _, err = _run(capsys, "config", "diff", "nope", "--db", db)
    assert (code, err) == (2, "error: no such config item 'nope'\n")
    code, _, err = _run(capsys, "config", "audit", "--since", "soon", "--db", db)
    assert code == 2 and "--since 'soon'" in err

    assert _run(capsys, "config", "approve", "sshd", "--db", db)[0] == 0
    assert _run(capsys, "config", "drift", "--db", db)[0] == 0


def test_inventory_collect_list_and_check_from_the_command_line(tmp_path, capsys):
    db = str(tmp_path / "ops.duckdb")
    status = write_status(tmp_path / "status", dpkg_stanza("openssl", "3.0.11-1~deb12u2"))
    code, out, _ = _run(capsys, "inventory", "collect", "--host", "h1", "--kind", "deb",
                        "--dpkg-status", str(status), "--db", db)  # fmt: skip
    assert (code, out) == (0, "h1: 1 items; 1 appeared, 0 changed, 0 gone\n")
    code, out, _ = _run(capsys, "inventory", "--host", "h1", "--db", db, "--json")
    assert [(s["name"], s["version"]) for s in json.loads(out)] == [("openssl", "3.0.11-1~deb12u2")]
    code, out, _ = _run(capsys, "inventory", "software", "--kind", "deb", "--db", db)
    assert "openssl" in out
    code, out, _ = _run(capsys, "inventory", "check", "--policy", "openssl >= 3.0.13", "--db", db)
    assert code == 3 and out.splitlines()[1].split()[:2] == ["violation", "openssl"]
    code, _, err = _run(capsys, "inventory", "check", "--policy", "openssl >>", "--db", db)
    assert code == 2 and "policy 'openssl >>': expected [deb:|python:]NAME OP VERSION" in err
