"""``opsengine security scan|findings|show|acknowledge`` as a user runs them."""

from __future__ import annotations

import json

from opsengine.cli import main

from tests.security.test_vulnerability_audit import DEB, _write, needs_dpkg


@needs_dpkg
def test_scan_findings_show(tmp_path, capsys):
    osv, status, site = _write(tmp_path, DEB)
    db = ["--db", str(tmp_path / "ops.duckdb")]
    code = main(["security", "scan", *db, "--osv", str(osv), "--dpkg-status", str(status),
                 "--python", str(site), "--as", "alice"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "opened #" in out and "DSA-1" in out
    assert "skipped" in err and "BROKEN-1.json" in err
    assert main(["security", "findings", *db, "--kind", "vulnerability", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    fid = next(r["id"] for r in rows if r["cause"] == "DSA-1")
    assert main(["security", "acknowledge", *db, str(fid), "--as", "bob", "--reason", "x"]) == 0
    capsys.readouterr()
    assert main(["security", "show", *db, str(fid)]) == 0
    out = capsys.readouterr().out
    assert (
        "evidence.fixed: 1:3.0.11-1~deb12u3" in out
        and "bob: acknowledge open -> acknowledged" in out
    )
    assert main(["security", "findings", *db, "--state", "nonsense"]) == 2
    assert "state: expected one of" in capsys.readouterr().err
    assert main(["security", "show", *db, "9999"]) == 2
    assert main(["security", "accept-risk", *db, str(fid), "--until", "soon"]) == 2
    assert "--until: not an ISO-8601 time" in capsys.readouterr().err
    assert main(["security", "accept-risk", *db, str(fid), "--until", "2099-01-01T00:00Z"]) == 0
    assert "accepted_risk" in capsys.readouterr().out
