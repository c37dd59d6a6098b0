"""``opsengine rules check|list|test``: validate rule files, list them, and try them on logs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from opsengine.cli.common import EXIT_BAD_INPUT, EXIT_OK, CliError


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    rules = subparsers.add_parser("rules", help="check, list and try rule files")
    rsub = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    check = rsub.add_parser("check", help="validate rule files (default: the default pack)")
    check.add_argument("files", nargs="*", metavar="FILE")
    check.set_defaults(func=cmd_rules_check)
    lst = rsub.add_parser("list", help="list rules (default: the default pack)")
    lst.add_argument("files", nargs="*", metavar="FILE")
    lst.set_defaults(func=cmd_rules_list)
    test = rsub.add_parser("test", help="run rules over log files and show what fires")
    test.add_argument("logs", nargs="+", metavar="LOGFILE")
    test.add_argument("--rules", nargs="*", default=[], metavar="FILE")
    test.set_defaults(func=cmd_rules_test)


def rule_paths(files: Sequence[str]) -> list[Path]:
    """The named rule files, or the default pack's when none are named."""
    from opsengine.rules import default_pack_paths

    return [Path(f) for f in files] if files else default_pack_paths()


def cmd_rules_check(args: argparse.Namespace) -> int:
    from opsengine.metrics.rules import MetricRuleSet
    from opsengine.rules import RuleError, RuleSet

    paths = rule_paths(args.files)
    try:
        rules = RuleSet.from_yaml(paths)
        # Metric expressions compile in the core: a typo is found here, not at evaluation.
        MetricRuleSet(rules)
    except RuleError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    plan = rules.plan()
    kinds: dict[str, int] = {}
    for r in rules:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    kind_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"ok: {len(rules)} rules ({kind_text}) in {len(paths)} file(s)")
    print(
        f"   {plan['prefiltered_rules']} log rules prefiltered on {plan['literals']} literals; "
        f"{len(plan['always_checked_rules'])} checked on every line"
    )
    for name in plan["always_checked_rules"]:
        print(f"   checked on every line (no literal of {3}+ bytes to look for): {name}")
    return EXIT_OK


def cmd_rules_list(args: argparse.Namespace) -> int:
    from opsengine.rules import RuleError, load_rule_files

    try:
        rules = load_rule_files(rule_paths(args.files))
    except RuleError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    width = max((len(r.name) for r in rules), default=4)
    for r in rules:
        print(f"{r.name:<{width}}  {r.kind:<6} {r.severity:<8} {r.category:<12} {r.summary}")
    return EXIT_OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Run rules over log files and show what fires: the rule author's loop."""
    import pyarrow as pa

    from opsengine.rules import RuleError, RuleSet

    try:
        rules = RuleSet.from_yaml(rule_paths(args.rules))
    except RuleError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    totals: dict[str, int] = dict.fromkeys(rules.names, 0)
    examples: dict[str, str] = {}
    lines_seen = 0
    for name in args.logs:
        try:
            data = Path(name).read_bytes()
        except OSError as e:
            raise CliError(f"{name}: cannot read: {e.strerror or e}", EXIT_BAD_INPUT) from e
        lines = data.decode("utf-8", errors="replace").splitlines()
        lines_seen += len(lines)
        array = pa.array(lines, type=pa.string())
        batch = rules.match(array)
        rows = batch.column("row").to_pylist()
        names = batch.column("rule").to_pylist()
        for row, rule in zip(rows, names, strict=True):
            totals[rule] += 1
            examples.setdefault(rule, f"{name}:{row + 1}: {lines[row][:160]}")
    fired = {k: v for k, v in totals.items() if v}
    print(
        f"{lines_seen} lines, {sum(fired.values())} matches, {len(fired)} of {len(rules)} rules fired"
    )
    width = max((len(k) for k in fired), default=4)
    for rule, n in sorted(fired.items(), key=lambda kv: -kv[1]):
        print(f"{n:>8}  {rule:<{width}}  {examples[rule]}")
    return EXIT_OK
