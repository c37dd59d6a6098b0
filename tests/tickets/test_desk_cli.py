"""``opsengine tickets …`` and ``opsengine kb …`` through ``cli.main`` on a real store."""

from __future__ import annotations

import json

from opsengine.cli import main


def run(capsys, db, *argv: str) -> tuple[int, str, str]:
    code = main([*argv[:2], "--db", str(db), *argv[2:]]) if len(argv) > 1 else main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tickets_create_reply_status_list_show(tmp_path, capsys):
    db = tmp_path / "ops.duckdb"
    code, out, err = run(capsys, db, "tickets", "create", "--subject", "VPN down",
                         "--description", "since nine", "--requester", "ada@example.com",
                         "--priority", "P2", "--tag", "vpn")  # fmt: skip
    assert code == 0, err
    ticket_id = int(out.strip())
    assert run(capsys, db, "tickets", "reply", str(ticket_id), "Restart the client")[0] == 0
    assert run(capsys, db, "tickets", "reply", str(ticket_id), "user is VIP", "--note")[0] == 0
    code, out, _ = run(capsys, db, "tickets", "status", str(ticket_id), "solved")
    assert (code, out.strip()) == (0, f"ticket {ticket_id}: solved")

    code, out, _ = run(capsys, db, "tickets", "list", "--status", "solved", "--json")
    [t] = json.loads(out)
    assert (t["id"], t["tags"], t["source"]) == (ticket_id, ["vpn"], "cli")
    code, out, _ = run(capsys, db, "tickets", "show", str(ticket_id))
    assert "Restart the client" in out and "note by" in out and "sla.policy" in out

    # Bad input exits 2 naming the field; an unknown id too.
    code, _, err = run(capsys, db, "tickets", "status", str(ticket_id), "new")
    assert code == 2 and "status:" in err
    code, _, err = run(capsys, db, "tickets", "show", "99")
    assert code == 2 and "ticket 99" in err
    code, _, err = run(capsys, db, "tickets", "create", "--subject", "x", "--description", "y",
                       "--requester", "not-an-address")  # fmt: skip
    assert code == 2 and "requester.email" in err


def test_kb_add_and_search(tmp_path, capsys):
    db = tmp_path / "ops.duckdb"
    article = tmp_path / "vpn.md"
    article.write_text("---\ntags: [vpn]\nstate: published\n---\n# Reset your VPN password\n\n"
                       "Open the portal and choose *Reset password*.\n")  # fmt: skip
    other = tmp_path / "printer.md"
    other.write_text("# Printer jams\n\nPull the jammed paper out of tray 2.\n")
    code, out, err = run(capsys, db, "kb", "add", str(article))
    assert code == 0, err
    assert "Reset your VPN password (published)" in out
    assert run(capsys, db, "kb", "add", str(other), "--publish")[0] == 0
    code, out, _ = run(capsys, db, "kb", "search", "passwords resetting")
    assert code == 0 and out.splitlines()[0].endswith("Reset your VPN password")
    assert "*password*" in out.lower() or "*Reset*" in out
    code, out, _ = run(capsys, db, "kb", "search", "jamming", "--json")
    assert json.loads(out)["hits"][0]["title"] == "Printer jams"
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntags: [x]\nbody text without an end\n")
    code, _, err = run(capsys, db, "kb", "add", str(broken))
    assert code == 2 and "broken.md:1" in err
