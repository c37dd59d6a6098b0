"""``opsengine security scan|findings|show``: the vulnerability audit and the findings.

Like the incident and ticket commands these open the DuckDB file for writing, so they run
while no engine holds it; a running engine answers through ``/api/v1/security``. Exit
codes: 0 ok, 1 runtime failure, 2 bad input (the message names the field).
"""

from __future__ import annotations

import argparse

from opsengine.cli.common import Domains, acting_user, add_store_options, domain_command, notice
from opsengine.cli.result_format import cell_text, print_records

WHILE_RUNNING = (
    "while the engine runs, use its API (/api/v1/security) with an operator or admin key"
)
FINDING_COLUMNS = ("id", "kind", "severity", "state", "subject", "last_seen", "suppressed",
                   "title")  # fmt: skip


def _parser(sub, name: str, fn, help_text: str):
    p = sub.add_parser(name, help=help_text)
    add_store_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=domain_command(fn, while_running=WHILE_RUNNING))
    return p


def _scan(d: Domains, args: argparse.Namespace) -> int:
    report = d.security.scan(
        osv_dir=args.osv, dpkg_status=args.dpkg_status, python_paths=args.python or None,
        actor=acting_user(args),
    )  # fmt: skip
    if args.json:
        print_records(report, args)
    else:
        print(f"scan {report['id']}: {report['advisories']} advisories "
              f"({report['withdrawn']} withdrawn) against {report['packages']} packages")  # fmt: skip
        for what in ("opened", "reopened", "closed"):
            for fid in report[what]:
                f = d.security.findings.get(fid, history=False)
                print(f"{what:>9} #{fid} [{f['severity']}] {f['title']}")
        print(f"{report['seen']} still open, {report['suppressed']} suppressed (false positives)")
    for s in report["skipped"]:
        notice(f"skipped {s['file']}: {s['error']}")
    for e in report["errors"]:
        notice(f"warning: {e}")
    return 0


def _findings(d: Domains, args: argparse.Namespace) -> None:
    rows = d.security.list(state=args.state, kind=args.kind, severity=args.severity,
                           subject=args.subject, limit=args.limit)  # fmt: skip
    print_records(rows, args, FINDING_COLUMNS)


def _show(d: Domains, args: argparse.Namespace) -> None:
    f = d.security.get(args.id)
    if args.json:
        print_records(f, args)
        return
    for key in ("id", "kind", "severity", "state", "title", "subject", "cause", "host",
                "first_seen", "last_seen", "occurrences", "suppressed", "accepted_until",
                "incident_id"):  # fmt: skip
        print(f"{key:>15}: {cell_text(f[key])}")
    for key, value in f["evidence"].items():
        print(f"{'evidence.' + key:>15}: {cell_text(value)}")
    print()
    for h in f["history"]:
        reason = f" — {h['reason']}" if h["reason"] else ""
        print(f"{cell_text(h['ts'])} {h['actor']}: {h['action']} "
              f"{h['from_state'] or ''} -> {h['to_state'] or ''}{reason}")  # fmt: skip


def _act(action: str):
    def run(d: Domains, args: argparse.Namespace) -> None:
        from datetime import datetime

        until = None
        if getattr(args, "until", None):
            try:
                until = datetime.fromisoformat(args.until)
            except ValueError:
                raise ValueError(
                    f"--until: not an ISO-8601 time: {args.until!r} (e.g. 2027-01-31T00:00Z)"
                ) from None
        f = d.security.act(args.id, action, actor=acting_user(args), reason=args.reason,
                           until=until)  # fmt: skip
        print(f"finding {f['id']}: {f['state']}")

    return run


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``security``."""
    group = subparsers.add_parser("security", help="security findings and the vulnerability audit")
    sub = group.add_subparsers(dest="security_command", metavar="ACTION", required=True)
    p = _parser(sub, "scan", _scan, "run the audit now; prints new and closed findings")
    p.add_argument("--osv", metavar="DIR", help="OSV advisories (default: [security] osv_dir)")
    p.add_argument("--dpkg-status", dest="dpkg_status", metavar="FILE",
                   help="default: [inventory] dpkg_status")  # fmt: skip
    p.add_argument("--python", action="append", metavar="PATH",
                   help="a site-packages directory (repeat; default: sys.path)")  # fmt: skip
    p.add_argument("--as", dest="actor", metavar="USER", help="who scans (default: $USER)")
    p = _parser(sub, "findings", _findings, "findings by id, with filters")
    p.add_argument("--state", help="open, acknowledged, mitigated, accepted_risk, false_positive")
    p.add_argument("--kind", help="detection, vulnerability or hardening")
    p.add_argument("--severity")
    p.add_argument("--subject")
    p.add_argument("--limit", type=int, default=1000)
    p = _parser(sub, "show", _show, "one finding with its evidence and history")
    p.add_argument("id", type=int)
    for action, text in (("acknowledge", "acknowledge a finding"),
                         ("mitigate", "mark a finding mitigated"),
                         ("accept-risk", "accept the risk until --until (then it reopens)"),
                         ("false-positive", "mark a false positive"),
                         ("reopen", "reopen a finding")):  # fmt: skip
        p = _parser(sub, action, _act(action), text)
        p.add_argument("id", type=int)
        p.add_argument("--reason")
        p.add_argument("--as", dest="actor", metavar="USER", help="who acts (default: $USER)")
        if action == "accept-risk":
            p.add_argument(
                "--until", required=True, help="ISO-8601 with a zone, e.g. 2027-01-31T00:00Z"
            )
