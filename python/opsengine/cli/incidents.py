"""The incident-side commands of the ``opsengine`` CLI: incidents, silences, escalation
policies, channels, on-call schedules, notifications, problems and known errors.

These commands open the DuckDB file
for writing, so they run while no engine holds it (a running engine answers through
the API). Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the place).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opsengine.cli.common import Domains, acting_user, add_store_options, domain_command
from opsengine.cli.result_format import cell_text, print_records

WHILE_RUNNING = (
    "while the engine runs, act through its API (/api/v1/incidents, "
    "/api/v1/silences, …) with an operator key"
)


def _when(text: str | None, now: datetime) -> datetime | None:
    """ISO-8601, ``now``, ``today``, ``-1h`` (ago) or ``2h`` / ``+2h`` (from now)."""
    from opsengine.store.rows import parse_when

    return None if text is None else parse_when(text, now)


# -- incidents ----------------------------------------------------------------------
INCIDENT_COLUMNS = ("id", "priority", "state", "category", "service", "host", "alert_count",
                    "detected_at", "assignee", "title")  # fmt: skip


def _incidents_list(d: Domains, args: argparse.Namespace) -> None:
    rows = d.incidents.list(
        state=args.state, priority=args.priority, service=args.service, host=args.host,
        limit=args.limit,
    )  # fmt: skip
    print_records(rows, args, INCIDENT_COLUMNS)


def _incidents_show(d: Domains, args: argparse.Namespace) -> None:
    inc = d.incidents.get(args.id)
    inc["timeline"] = d.incidents.timeline(args.id)
    if args.json:
        print_records(inc, args)
        return
    for key in ("id", "title", "state", "priority", "impact", "urgency", "category", "service",
                "host", "assignee", "alert_count", "flapping", "suppressed_by", "known_error_id",
                "started_at", "detected_at", "acknowledged_at", "resolved_at", "closed_at"):  # fmt: skip
        print(f"{key:>16}: {cell_text(inc[key])}")
    print("\ntimeline:")
    for ev in inc["timeline"]:
        detail = ", ".join(f"{k}={v}" for k, v in ev["detail"].items())
        print(f"  {cell_text(ev['ts'])}  {ev['actor']:<12} {ev['kind']:<12} {detail}")


def _incident_action(action: str) -> Callable[[Domains, argparse.Namespace], None]:
    def run(d: Domains, args: argparse.Namespace) -> None:
        actor, at = acting_user(args), _when(args.at, datetime.now(UTC))
        if action == "ack":
            inc = d.incidents.acknowledge(args.id, actor=actor, at=at)
        elif action == "assign":
            inc = d.incidents.assign(args.id, args.assignee, actor=actor, at=at)
        elif action == "note":
            inc = d.incidents.add_note(args.id, args.text, actor=actor, at=at)
        else:
            move = {"resolve": d.incidents.resolve, "close": d.incidents.close,
                    "reopen": d.incidents.reopen}[action]  # fmt: skip
            inc = move(args.id, actor=actor, at=at, note=args.note)
        print(f"incident {inc['id']}: {inc['state']} ({inc['priority']}) {inc['title']}")

    return run


def _incidents_create(d: Domains, args: argparse.Namespace) -> None:
    labels = {}
    for kv in args.label or []:
        name, sep, value = kv.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--label {kv!r}: expected NAME=VALUE")
        labels[name.strip()] = value
    incident_id = d.incidents.create(
        args.title, actor=acting_user(args), category=args.category, impact=args.impact,
        urgency=args.urgency, service=args.service, host=args.host, labels=labels,
    )  # fmt: skip
    print(f"incident {incident_id} opened")


def _incidents_review(d: Domains, args: argparse.Namespace) -> None:
    from opsengine.incidents.review import render_markdown

    review = d.incidents.review(args.id, margin=args.margin, changes_before=args.changes_before)
    if args.json:
        print_records(review, args)
    else:
        sys.stdout.write(render_markdown(review))


def _kpis(d: Domains, args: argparse.Namespace) -> None:
    from opsengine.durations import format_duration
    from opsengine.kpi import incident_kpis

    now = datetime.now(UTC)
    start = _when(args.start, now) or now - timedelta(days=30)
    kpis = incident_kpis(d.store, start, _when(args.end, now) or now)
    if args.json:
        print_records(kpis, args)
        return
    print(f"range: {cell_text(kpis['from'])} to {cell_text(kpis['to'])}")
    print(f"incidents: {kpis['incidents']} (security: {kpis['security_incidents']})")
    for name in ("mttd", "mtta", "mttr"):
        k = kpis[name]
        mean, median = (
            format_duration(v) if v is not None else "-"
            for v in (k["mean_seconds"], k["median_seconds"])
        )
        print(f"{name.upper()}: mean {mean}, median {median} ({k['measured']} measured)")
    sat = kpis["user_satisfaction"]
    print(f"user satisfaction (CSAT): {cell_text(sat['satisfied_percent'])} % rated 4-5, average "
          f"{cell_text(sat['average_rating'])} ({sat['answered']} of {sat['surveys']} surveys "
          f"answered); SLA compliance {cell_text(sat['sla_compliance_percent'])} %")  # fmt: skip
    print("uptime:")
    print_records(kpis["uptime"], args, ("service", "uptime_percent", "checks", "passed",
                                   "p95_latency_ms", "last_ok", "target"))  # fmt: skip


# -- silences and maintenance ----------------------------------------------------------
def _silences_list(d: Domains, args: argparse.Namespace) -> None:
    kind = "maintenance" if args.maintenance else "silence"
    at = datetime.now(UTC) if args.active else None
    print_records(d.notify.silences.list(kind, active_at=at), args)


def _silences_add(d: Domains, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    starts, ends = _when(args.starts, now), _when(args.ends, now)
    if args.maintenance:
        new_id = d.notify.silences.create_maintenance(
            args.maintenance, args.matcher, starts_at=starts or now, ends_at=ends,
            author=acting_user(args), comment=args.comment or "",
        )  # fmt: skip
        print(f"maintenance window {new_id} until {cell_text(ends)}")
    else:
        new_id = d.notify.silences.create_silence(
            args.matcher, starts_at=starts, ends_at=ends, author=acting_user(args),
            comment=args.comment,
        )  # fmt: skip
        print(f"silence {new_id} until {cell_text(ends)}")


def _silences_expire(d: Domains, args: argparse.Namespace) -> None:
    kind = "maintenance" if args.maintenance else "silence"
    d.notify.silences.expire(kind, args.id)
    print(f"{kind} {args.id} expired")


# -- policies, channels, schedules ----------------------------------------------------
def parse_level(text: str) -> dict[str, Any]:
    """``channel:ops,oncall:primary/15m`` → {targets: [...], delay: "15m"}."""
    targets, _, delay = text.partition("/")
    return {
        "targets": [t.strip() for t in targets.split(",") if t.strip()],
        "delay": delay or "15m",
    }


def _policies_set(d: Domains, args: argparse.Namespace) -> None:
    policy = d.notify.policies.set_policy(
        args.name, [parse_level(level) for level in args.level], repeat=args.repeat,
        matchers=args.matcher,
    )  # fmt: skip
    print(f"policy {policy['name']}: {len(policy['levels'])} level(s), repeat {policy['repeat']}")


def _channels_set(d: Domains, args: argparse.Namespace) -> None:
    if args.kind == "email":
        config: dict[str, Any] = {"host": args.smtp_host, "port": args.smtp_port,
                                  "from": args.sender, "to": args.to or []}  # fmt: skip
        if args.starttls:
            config["starttls"] = True
        if args.username:
            config["username"] = args.username
            config["password_env"] = args.password_env
    else:
        config = {"url": args.url}
    ch = d.notify.outbox.set_channel(args.name, args.kind, config, owner=args.owner)
    print(f"channel {ch['name']} ({ch['kind']}) saved")


def _schedules_set(d: Domains, args: argparse.Namespace) -> None:
    s = d.notify.schedules.set_schedule(
        args.name, members=args.members, rotation=args.rotation, start_date=args.start_date,
        handoff=args.handoff, timezone=args.timezone,
    )  # fmt: skip
    print(f"schedule {s['name']}: {s['rotation']} rotation of {len(s['members'])}")


def _schedules_override(d: Domains, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    oid = d.notify.schedules.add_override(
        args.schedule, args.user, _when(args.starts, now), _when(args.ends, now)
    )
    print(f"override {oid}: {args.user} on {args.schedule}")


def _oncall(d: Domains, args: argparse.Namespace) -> None:
    at = _when(args.at, datetime.now(UTC)) or datetime.now(UTC)
    names = [args.schedule] if args.schedule else [s["name"] for s in d.notify.schedules.list()]
    rows = [{"schedule": n, "on_call": d.notify.schedules.on_call(n, at)} for n in names]
    print_records(rows, args, ("schedule", "on_call"))


def _notifications_tick(d: Domains, args: argparse.Namespace) -> None:
    counts = d.notify.tick(_when(args.at, datetime.now(UTC)))
    print(", ".join(f"{k} {v}" for k, v in counts.items()))


# -- problems and known errors ---------------------------------------------------------
def _problems_create(d: Domains, args: argparse.Namespace) -> None:
    pid = d.problems.create_problem(
        args.title, actor=acting_user(args), root_cause=args.root_cause, workaround=args.workaround,
        permanent_fix=args.permanent_fix, incident_ids=args.incident,
    )  # fmt: skip
    print(f"problem {pid} opened")


def _problems_update(d: Domains, args: argparse.Namespace) -> None:
    p = d.problems.update_problem(
        args.id, actor=acting_user(args), state=args.state, root_cause=args.root_cause,
        workaround=args.workaround, permanent_fix=args.permanent_fix,
    )  # fmt: skip
    for incident_id in args.link or []:
        p = d.problems.link_incident(args.id, incident_id, actor=acting_user(args))
    print(f"problem {p['id']}: {p['state']}, incidents {p['incidents']}")


def _known_errors_add(d: Domains, args: argparse.Namespace) -> None:
    kid = d.problems.create_known_error(
        args.title, symptoms=args.symptoms, actor=acting_user(args), workaround=args.workaround,
        resolution=args.resolution, rules=args.rule, fingerprints=args.fingerprint,
        problem_id=args.problem,
    )  # fmt: skip
    print(f"known error {kid} recorded")


# -- the parser ----------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, *, json_out: bool = False) -> argparse.ArgumentParser:
    add_store_options(p)
    p.add_argument("--as", dest="actor", metavar="USER", help="who acts (default: $USER)")
    if json_out:
        p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _cmd(sub, name: str, fn, help_text: str, *, json_out: bool = False) -> argparse.ArgumentParser:
    p = _common(sub.add_parser(name, help=help_text), json_out=json_out)
    p.set_defaults(func=domain_command(fn, while_running=WHILE_RUNNING))
    return p


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register incidents, silences, policies, channels, schedules, oncall, notifications,
    problems and known-errors."""
    inc = subparsers.add_parser("incidents", help="list, show and act on incidents")
    isub = inc.add_subparsers(dest="incidents_command", metavar="ACTION", required=True)
    p = _cmd(isub, "list", _incidents_list, "incidents, newest first", json_out=True)
    p.add_argument("--state", help="open, triggered, acknowledged, resolved or closed")
    p.add_argument("--priority", help="P1..P5")
    p.add_argument("--service")
    p.add_argument("--host")
    p.add_argument("--limit", type=int, default=50)
    p = _cmd(isub, "show", _incidents_show, "one incident with its timeline", json_out=True)
    p.add_argument("id", type=int)
    for action, help_text in (("ack", "acknowledge"), ("resolve", "resolve"),
                              ("close", "close (after resolving)"), ("reopen", "reopen")):  # fmt: skip
        p = _cmd(isub, action, _incident_action(action), f"{help_text} an incident")
        p.add_argument("id", type=int)
        p.add_argument("--at", help="when (default now)")
        if action != "ack":
            p.add_argument("--note", help="why, for the timeline")
    p = _cmd(isub, "assign", _incident_action("assign"), "assign an incident to someone")
    p.add_argument("id", type=int)
    p.add_argument("assignee")
    p.add_argument("--at")
    p = _cmd(isub, "note", _incident_action("note"), "add a note to the timeline")
    p.add_argument("id", type=int)
    p.add_argument("text")
    p.add_argument("--at")
    p = _cmd(isub, "create", _incidents_create, "open an incident by hand")
    p.add_argument("title")
    p.add_argument("--category", default="error")
    p.add_argument("--impact", default="medium", choices=("high", "medium", "low"))
    p.add_argument("--urgency", default="medium", choices=("high", "medium", "low"))
    p.add_argument("--service")
    p.add_argument("--host")
    p.add_argument("--label", action="append", metavar="NAME=VALUE")
    p = _cmd(isub, "review", _incidents_review, "post-incident review (Markdown)", json_out=True)
    p.add_argument("id", type=int)
    p.add_argument("--margin", default="30m", help="window before and after (default 30m)")
    p.add_argument("--changes-before", default="24h",
                   help="list configuration changes this long before detection (default 24h)")  # fmt: skip
    p = _cmd(isub, "kpis", _kpis, "MTTD, MTTA, MTTR, counts and uptime over a range", json_out=True)
    p.add_argument("--from", dest="start", help="default -30d (relative: --from=-7d)")
    p.add_argument("--to", dest="end", help="default now")

    sil = subparsers.add_parser("silences", help="silences and maintenance windows")
    ssub = sil.add_subparsers(dest="silences_command", metavar="ACTION", required=True)
    p = _cmd(
        ssub, "list", _silences_list, "list silences (or --maintenance windows)", json_out=True
    )
    p.add_argument("--maintenance", action="store_true")
    p.add_argument("--active", action="store_true", help="only those in force now")
    p = _cmd(ssub, "add", _silences_add, "mute notices for matching incidents")
    p.add_argument("--matcher", "-m", action="append", required=True,
                   help="name=value, name!=value, name=~regex, name!~regex (repeatable)")  # fmt: skip
    p.add_argument("--starts", help="default now")
    p.add_argument("--ends", required=True, help="e.g. 2h (from now) or an ISO-8601 time")
    p.add_argument("--comment", help="why (required for a silence)")
    p.add_argument("--maintenance", metavar="NAME", help="make it a named maintenance window")
    p = _cmd(ssub, "expire", _silences_expire, "end a silence (or --maintenance window) now")
    p.add_argument("id", type=int)
    p.add_argument("--maintenance", action="store_true")

    pol = subparsers.add_parser("policies", help="escalation policies")
    psub = pol.add_subparsers(dest="policies_command", metavar="ACTION", required=True)
    _cmd(
        psub, "list", lambda d, a: print_records(d.notify.policies.list(), a), "list", json_out=True
    )
    p = _cmd(psub, "set", _policies_set, "create or replace a policy")
    p.add_argument("name")
    p.add_argument("--level", action="append", required=True,
                   help="TARGET[,TARGET…]/DELAY, e.g. channel:ops,oncall:primary/15m (in order)")  # fmt: skip
    p.add_argument("--repeat", type=int, default=0)
    p.add_argument("--matcher", "-m", action="append", help="labels the policy applies to")
    p = _cmd(psub, "delete", lambda d, a: d.notify.policies.delete(a.name), "delete a policy")
    p.add_argument("name")

    ch = subparsers.add_parser("channels", help="notification channels (webhook, slack, email)")
    csub = ch.add_subparsers(dest="channels_command", metavar="ACTION", required=True)
    _cmd(
        csub,
        "list",
        lambda d, a: print_records(d.notify.outbox.channels(), a),
        "list",
        json_out=True,
    )
    p = _cmd(csub, "set", _channels_set, "create or replace a channel")
    p.add_argument("name")
    p.add_argument("--kind", choices=("webhook", "slack", "email"), required=True)
    p.add_argument("--url", help="webhook or Slack incoming-webhook URL")
    p.add_argument("--smtp-host")
    p.add_argument("--smtp-port", type=int, default=25)
    p.add_argument("--from", dest="sender")
    p.add_argument("--to", action="append", help="recipient address (repeatable)")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--username")
    p.add_argument("--password-env", default="OPSENGINE_SMTP_PASSWORD",
                   help="environment variable holding the SMTP password")  # fmt: skip
    p.add_argument("--owner", help="the user this channel reaches (for user:/oncall: targets)")
    p = _cmd(csub, "delete", lambda d, a: d.notify.outbox.delete_channel(a.name), "delete")
    p.add_argument("name")

    sch = subparsers.add_parser("schedules", help="on-call schedules and overrides")
    scsub = sch.add_subparsers(dest="schedules_command", metavar="ACTION", required=True)
    _cmd(
        scsub,
        "list",
        lambda d, a: print_records(d.notify.schedules.list(), a),
        "list",
        json_out=True,
    )
    p = _cmd(scsub, "set", _schedules_set, "create or replace a schedule")
    p.add_argument("name")
    p.add_argument("--members", nargs="+", required=True, help="users in rotation order")
    p.add_argument("--rotation", choices=("daily", "weekly"), default="weekly")
    p.add_argument("--start-date", required=True, help="YYYY-MM-DD of the first hand-off")
    p.add_argument("--handoff", default="09:00", help="local hand-off time HH:MM")
    p.add_argument("--timezone", default="UTC", help="IANA zone, e.g. Europe/Berlin")
    p = _cmd(scsub, "override", _schedules_override, "someone covers a span")
    p.add_argument("schedule")
    p.add_argument("user")
    p.add_argument("--starts", required=True)
    p.add_argument("--ends", required=True)
    p = _cmd(subparsers, "oncall", _oncall, "who is on call now", json_out=True)
    p.add_argument("schedule", nargs="?")
    p.add_argument("--at", help="another time than now")

    no = subparsers.add_parser("notifications", help="the notification record; send what is due")
    nsub = no.add_subparsers(dest="notifications_command", metavar="ACTION", required=True)
    p = _cmd(nsub, "list", lambda d, a: print_records(
        d.notify.outbox.notifications(incident_id=a.incident, state=a.state), a,
        ("key", "incident_id", "channel", "reason", "state", "attempts", "sent_at", "last_error"),
    ), "notifications and their state", json_out=True)  # fmt: skip
    p.add_argument("--incident", type=int)
    p.add_argument("--state")
    p = _cmd(nsub, "retry", lambda d, a: d.notify.outbox.retry(a.key, datetime.now(UTC)),
             "queue a failed or in-doubt notification again")  # fmt: skip
    p.add_argument("key")
    p = _cmd(nsub, "tick", _notifications_tick, "escalate and send what is due now")
    p.add_argument("--at")

    pr = subparsers.add_parser("problems", help="problem records")
    prsub = pr.add_subparsers(dest="problems_command", metavar="ACTION", required=True)
    p = _cmd(prsub, "list", lambda d, a: print_records(d.problems.list_problems(state=a.state), a,
             ("id", "state", "incident_count", "title", "updated_at")), "list", json_out=True)  # fmt: skip
    p.add_argument("--state")
    p = _cmd(prsub, "show", lambda d, a: print_records(d.problems.get_problem(a.id), a), "show one")
    p.add_argument("id", type=int)
    p = _cmd(prsub, "create", _problems_create, "open a problem")
    p.add_argument("title")
    p.add_argument("--incident", type=int, action="append", help="link this incident")
    for field in ("--root-cause", "--workaround", "--permanent-fix"):
        p.add_argument(field)
    p = _cmd(prsub, "update", _problems_update, "change state or text; link incidents")
    p.add_argument("id", type=int)
    p.add_argument("--state")
    p.add_argument("--link", type=int, action="append", metavar="INCIDENT")
    for field in ("--root-cause", "--workaround", "--permanent-fix"):
        p.add_argument(field)

    ke = subparsers.add_parser("known-errors", help="the known-error database")
    kesub = ke.add_subparsers(dest="known_errors_command", metavar="ACTION", required=True)
    _cmd(kesub, "list", lambda d, a: print_records(d.problems.list_known_errors(), a,
         ("id", "title", "rules", "fingerprints", "problem_id")), "list", json_out=True)  # fmt: skip
    p = _cmd(kesub, "add", _known_errors_add, "record a known error")
    p.add_argument("title")
    p.add_argument("--symptoms", required=True)
    p.add_argument("--workaround")
    p.add_argument("--resolution")
    p.add_argument("--rule", action="append", help="rule name it covers (repeatable)")
    p.add_argument("--fingerprint", action="append", help="alert fingerprint it covers")
    p.add_argument("--problem", type=int)
