"""``opsengine tickets list|show|create|reply|status``: the service desk from the shell.

Like the incident commands these open the DuckDB file for writing, so they run while no
engine holds it; a running engine answers through ``/api/v1/tickets``. Exit codes: 0 ok,
1 runtime failure, 2 bad input (the message names the field).
"""

from __future__ import annotations

import argparse
from typing import Any

from opsengine.cli.common import Domains, acting_user, add_store_options, domain_command
from opsengine.cli.result_format import cell_text, print_records

WHILE_RUNNING = (
    "while the engine runs, use its API (/api/v1/tickets, /api/v1/kb/articles) with an operator key"
)
TICKET_COLUMNS = ("id", "status", "priority", "queue", "assignee", "created_at",
                  "resolution_due", "breached", "subject")  # fmt: skip


def desk_parser(sub, name: str, fn, help_text: str, *, json_out: bool = False):
    p = sub.add_parser(name, help=help_text)
    add_store_options(p)
    p.add_argument("--as", dest="actor", metavar="USER", help="who acts (default: $USER)")
    if json_out:
        p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=domain_command(fn, while_running=WHILE_RUNNING))
    return p


def _row(t: dict[str, Any]) -> dict[str, Any]:
    sla = t["sla"]
    breached = [k for k in ("first_response", "resolution") if sla[f"{k}_breached"]]
    return {**t, "resolution_due": "paused" if sla["paused"] else sla["resolution_due"],
            "breached": ", ".join(breached) or "-"}  # fmt: skip


def _list(d: Domains, args: argparse.Namespace) -> None:
    rows = d.tickets.list(
        q=args.q, requester=args.requester, status=args.status, queue=args.queue, tag=args.tag,
        assignee=args.assignee, limit=args.limit,
    )  # fmt: skip
    print_records(rows if args.json else [_row(t) for t in rows], args, TICKET_COLUMNS)


def _show(d: Domains, args: argparse.Namespace) -> None:
    t = d.tickets.get(args.id)
    if args.json:
        t["history"] = d.tickets.history(args.id)
        print_records(t, args)
        return
    for key in ("id", "subject", "status", "priority", "queue", "assignee", "category",
                "created_at", "first_response_at", "solved_at"):  # fmt: skip
        print(f"{key:>18}: {cell_text(t[key])}")
    print(f"{'requester':>18}: {t['requester']['name'] or ''} <{t['requester']['email']}>")
    print(f"{'tags':>18}: {cell_text(t['tags'])}")
    for key, value in t["sla"].items():
        print(f"{'sla.' + key:>18}: {cell_text(value)}")
    for link in t["links"]:
        print(f"{'link':>18}: {link['kind']} {link['id']}")
    print(f"\n{t['description']}\n")
    for c in t["comments"]:
        kind = "reply" if c["public"] else "note"
        print(f"--- {cell_text(c['ts'])} {kind} by {c['author']} ({c['via']})\n{c['body']}\n")


def _create(d: Domains, args: argparse.Namespace) -> None:
    t = d.tickets.create(
        subject=args.subject, description=args.description,
        requester={"email": args.requester, "name": args.name}, priority=args.priority,
        queue=args.queue, sla_policy=args.sla_policy, tags=args.tag or [],
        category=args.category, actor=acting_user(args), source="cli",
    )  # fmt: skip
    print(t["id"] if not args.json else "", end="\n" if not args.json else "")
    if args.json:
        print_records(t, args)


def _reply(d: Domains, args: argparse.Namespace) -> None:
    c = d.tickets.reply(
        args.id, args.body, public=not args.note, actor=acting_user(args), via="cli"
    )
    print(f"{'note' if args.note else 'reply'} {c['id']} on ticket {args.id}")


def _status(d: Domains, args: argparse.Namespace) -> None:
    t = d.tickets.set_status(args.id, args.status, actor=acting_user(args))
    print(f"ticket {t['id']}: {t['status']}")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tickets``."""
    tickets = subparsers.add_parser("tickets", help="the service desk: list, show and work tickets")
    sub = tickets.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)
    p = desk_parser(sub, "list", _list, "tickets, newest first", json_out=True)
    p.add_argument("-q", help="words of the subject, description or replies")
    p.add_argument("--status", help="unsolved, new, open, pending, solved or closed")
    p.add_argument("--queue")
    p.add_argument("--requester", help="e-mail address or part of the name")
    p.add_argument("--tag")
    p.add_argument("--assignee")
    p.add_argument("--limit", type=int, default=50)
    p = desk_parser(sub, "show", _show, "one ticket with its SLA and replies", json_out=True)
    p.add_argument("id", type=int)
    p = desk_parser(sub, "create", _create, "open a ticket; prints its id", json_out=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--requester", required=True, metavar="EMAIL")
    p.add_argument("--name", help="the requester's name")
    p.add_argument("--priority", default="P3", help="P1..P5 (default P3)")
    p.add_argument("--queue", help="default: [tickets] default_queue")
    p.add_argument("--sla-policy", dest="sla_policy")
    p.add_argument("--category")
    p.add_argument("--tag", action="append", help="repeat for more tags")
    p = desk_parser(sub, "reply", _reply, "a public reply (or --note: internal)")
    p.add_argument("id", type=int)
    p.add_argument("body")
    p.add_argument("--note", action="store_true", help="an internal note, not sent")
    p = desk_parser(sub, "status", _status, "move a ticket: open, pending, solved, closed")
    p.add_argument("id", type=int)
    p.add_argument("status")
