"""``opsengine config …`` and ``opsengine inventory …``: tracked configuration (versions,
diffs, baselines, drift, the audit trail) and the software/hardware inventory with its
version policies (``engine.config``, ``engine.inventory``).

They open the DuckDB file for writing, so they run while no engine holds it (a running
engine answers through ``/api/v1/config/…`` and ``/api/v1/inventory/…``). The CLI user is
the "who" of snapshots and approvals (``cli:<user>``); approvals go to the audit log.
Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the place).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    Domains,
    add_store_options,
    domain_command,
    local_user,
)
from opsengine.cli.result_format import print_records

WHILE_RUNNING = (
    "while the engine runs, use its API (/api/v1/config/…, /api/v1/inventory/…) "
    "with an operator key"
)
DRIFT_EXIT = 3  # `config drift` and `inventory check` when something is wrong (for scripts)


def _run(
    fn: Callable[[Domains, argparse.Namespace], int | None],
) -> Callable[[argparse.Namespace], int]:
    return domain_command(fn, while_running=WHILE_RUNNING)


def _actor() -> str:
    return f"cli:{local_user()}"


def _print(rows: list[dict[str, Any]], args: argparse.Namespace, columns: tuple[str, ...]) -> None:
    print_records(rows, args, columns)


# -- config ------------------------------------------------------------------------
def _track(d: Domains, args: argparse.Namespace) -> None:
    paths = [os.path.abspath(p) for p in args.paths]  # as the shell meant them, from here
    item = d.config.track(
        args.name, paths, env=args.env, vary=args.vary or [], host=args.host,
        severity=args.severity, actor=_actor(), origin="cli",
    )  # fmt: skip
    print(f"tracking {item['name']} ({item['env']}): {', '.join(item['paths'])}")
    if not args.no_snapshot:
        _snapshot_print(d.config.snapshot(item["name"], item["env"], author=_actor()), args)


def _snapshot(d: Domains, args: argparse.Namespace) -> None:
    _snapshot_print(d.config.snapshot(args.name, args.env, author=_actor()), args)


def _snapshot_print(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        _print(results, args, ())
        return
    for r in results:
        state = "new version" if r["changed"] else "unchanged"
        print(f"{r['item']} ({r['env']}): v{r['version']} {state}")
        for e in r["errors"]:
            print(f"  error: {e}")


def _versions(d: Domains, args: argparse.Namespace) -> None:
    rows = d.config.versions(args.name, args.env)
    _print(rows, args, ("version", "taken_at", "author", "files", "errors", "baseline", "hash"))


def _diff(d: Domains, args: argparse.Namespace) -> None:
    diff = d.config.diff(args.name, args.env, args.from_version, args.to_version)
    if args.json:
        print(json.dumps(diff, default=str, indent=2, ensure_ascii=False))
        return
    print(f"# {diff['item']} ({diff['env']}) v{diff['from']} → v{diff['to']}")
    for k in diff["keys"]:
        print(f"# {k['change']:>7} {k['key']}: {k['old'] or '-'} → {k['new'] or '-'}")
    sys.stdout.write(diff["unified"])


def _approve(d: Domains, args: argparse.Namespace) -> None:
    done = d.config.approve(args.name, args.env, args.version, actor=_actor())
    print(f"{done['item']} ({done['env']}): v{done['version']} approved as the baseline")


def _drift(d: Domains, args: argparse.Namespace) -> int:
    found = d.config.drift()
    _print(found, args, ("item", "env", "kind", "version", "since", "detail"))
    return DRIFT_EXIT if found else EXIT_OK


def _audit(d: Domains, args: argparse.Namespace) -> None:
    from opsengine.durations import parse_duration

    since = None
    if args.since:
        try:
            since = datetime.now(UTC) - timedelta(seconds=parse_duration(args.since))
        except ValueError as e:
            raise ValueError(f"--since {args.since!r}: {e}") from None
    rows = d.config.audit(since=since, item=args.item, env=args.env, limit=args.limit)
    for r in rows:
        r["keys"] = [k["key"] for k in r["key_changes"]]
    _print(rows, args, ("ts", "kind", "item", "env", "from_version", "to_version", "actor", "keys"))


# -- inventory -----------------------------------------------------------------------
def _inventory_list(d: Domains, args: argparse.Namespace) -> None:
    what = args.what or "software"
    read = d.inventory.software if what == "software" else d.inventory.hardware
    rows = read(args.host, args.kind)
    columns = ("host", "kind", "name", "version", "first_seen", "detail")
    _print(rows, args, columns if what == "software" else ("host", "kind", "name", "detail"))


def _inventory_collect(d: Domains, args: argparse.Namespace) -> None:
    run = d.inventory.collect(
        host=args.host, kinds=args.kind or None, dpkg_status=args.dpkg_status,
        python_paths=args.python_path or None,
    )  # fmt: skip
    c = run["changes"]
    print(f"{run['host']}: {run['items']} items; {c['appeared']} appeared, {c['changed']} changed, "
          f"{c['gone']} gone")  # fmt: skip
    for e in run["errors"]:
        print(f"  error: {e}")


def _inventory_check(d: Domains, args: argparse.Namespace) -> int:
    for expression in args.policy or []:
        d.inventory.add_policy(expression, actor=_actor(), origin="cli")
    results = d.inventory.check()
    _print(results, args, ("status", "expression", "host", "installed", "severity"))
    return DRIFT_EXIT if any(r["status"] == "violation" for r in results) else EXIT_OK


def _cmd(sub, name: str, fn, help_text: str, *, json_out: bool = False) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    add_store_options(p)
    if json_out:
        p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run(fn))
    return p


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    from opsengine.config_mgmt.inventory import HARDWARE_KINDS, KINDS, SOFTWARE_KINDS

    config = subparsers.add_parser("config", help="tracked configuration: versions, drift, audit")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION")
    p = _cmd(csub, "track", _track, "track files (paths or globs) as an item in an environment")
    p.add_argument("name")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--env", required=True, help="environment label: prod, staging, …")
    p.add_argument("--vary", nargs="*", metavar="KEY", help="keys expected to differ across envs")
    p.add_argument("--host", help="where the files live (a label on its alerts)")
    p.add_argument("--severity", default="medium", help="of its drift alerts (default medium)")
    p.add_argument("--no-snapshot", action="store_true", help="do not take the first version now")
    p = _cmd(csub, "snapshot", _snapshot, "snapshot one item (or all) now", json_out=True)
    p.add_argument("name", nargs="?")
    p.add_argument("--env")
    p = _cmd(csub, "versions", _versions, "an item's versions", json_out=True)
    p.add_argument("name")
    p.add_argument("--env")
    p = _cmd(csub, "diff", _diff, "unified and key-level diff of two versions", json_out=True)
    p.add_argument("name")
    p.add_argument("--env")
    p.add_argument("--from", dest="from_version", type=int, metavar="V",
                   help="default: the baseline, or the version before --to")  # fmt: skip
    p.add_argument("--to", dest="to_version", type=int, metavar="V", help="default: the latest")
    p = _cmd(csub, "approve", _approve, "approve a version as the item's baseline")
    p.add_argument("name")
    p.add_argument("--env")
    p.add_argument("--version", type=int, metavar="V", help="default: the latest")
    _cmd(csub, "drift", _drift, f"drift now (exit {DRIFT_EXIT} when there is any)", json_out=True)
    p = _cmd(csub, "audit", _audit, "the config audit trail, newest first", json_out=True)
    p.add_argument("--since", metavar="DURATION", help="e.g. 24h, 7d")
    p.add_argument("--item")
    p.add_argument("--env")
    p.add_argument("--limit", type=int, default=100)
    config.set_defaults(func=lambda args: _usage(config))

    inventory = subparsers.add_parser(
        "inventory", help="software and hardware per host; version policies"
    )
    isub = inventory.add_subparsers(dest="inventory_command", metavar="ACTION")
    for what, kinds in (("software", SOFTWARE_KINDS), ("hardware", HARDWARE_KINDS)):
        p = _cmd(isub, what, _inventory_list, f"the {what} inventory", json_out=True)
        p.add_argument("--host")
        p.add_argument("--kind", choices=kinds)
        p.set_defaults(what=what)
    p = _cmd(isub, "collect", _inventory_collect, "collect this host's inventory now")
    p.add_argument("--host", help="record under this name (default: this host's name)")
    p.add_argument("--kind", nargs="*", choices=KINDS, help="default: every kind")
    p.add_argument("--dpkg-status", metavar="FILE", help="default: [inventory] dpkg_status")
    p.add_argument("--python-path", nargs="*", metavar="DIR", help="site-packages directories")
    p = _cmd(isub, "check", _inventory_check,
             f"judge the version policies (exit {DRIFT_EXIT} on a violation)", json_out=True)  # fmt: skip
    p.add_argument("--policy", nargs="*", metavar="EXPR",
                   help="add policies first, e.g. 'openssl >= 3.0.13' 'python:requests >= 2.32'")  # fmt: skip
    # `opsengine inventory` alone lists the software.
    add_store_options(inventory)
    inventory.add_argument("--host")
    inventory.add_argument("--json", action="store_true", help="print JSON")
    inventory.set_defaults(func=_run(_inventory_list), what="software", kind=None)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT
