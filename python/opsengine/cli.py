"""The ``opsengine`` command line.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the place).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def _rule_paths(files: Sequence[str]) -> list[Path]:
    from opsengine.rules import default_pack_paths

    return [Path(f) for f in files] if files else default_pack_paths()


def cmd_rules_check(args: argparse.Namespace) -> int:
    from opsengine.rules import RuleError, RuleSet

    paths = _rule_paths(args.files)
    try:
        rules = RuleSet.from_yaml(paths)
    except RuleError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
        rules = load_rule_files(_rule_paths(args.files))
    except RuleError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    width = max((len(r.name) for r in rules), default=4)
    for r in rules:
        print(f"{r.name:<{width}}  {r.kind:<6} {r.severity:<8} {r.category:<12} {r.summary}")
    return EXIT_OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Run rules over log files and show what fires: the rule author's loop."""
    import pyarrow as pa

    from opsengine.rules import RuleError, RuleSet

    try:
        rules = RuleSet.from_yaml(_rule_paths(args.rules))
    except RuleError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    totals: dict[str, int] = dict.fromkeys(rules.names, 0)
    examples: dict[str, str] = {}
    lines_seen = 0
    for name in args.logs:
        try:
            data = Path(name).read_bytes()
        except OSError as e:
            print(f"error: {name}: cannot read: {e.strerror or e}", file=sys.stderr)
            return EXIT_BAD_INPUT
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


def cmd_bench(args: argparse.Namespace) -> int:
    from opsengine.bench import matcher

    out = Path(args.out) if args.out else None
    try:
        results = matcher.run(quick=args.quick, out=out, loghub=args.loghub)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("## Log-rule matching (default pack, loghub corpus)")
    print(matcher.table(results))
    if out:
        print(f"\nresults written to {out / 'matcher.json'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsengine",
        description="Operational-support engine: logs and metrics in; alerts, incidents, history out.",
    )
    parser.add_argument("--version", action="version", version="opsengine 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rules = sub.add_parser("rules", help="check, list and try rule files")
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

    bench = sub.add_parser("bench", help="measure this machine's capacity against the peers")
    bench.add_argument("--quick", action="store_true", help="a smaller corpus and fewer runs")
    bench.add_argument("--out", metavar="DIR", help="also write JSON results here")
    bench.add_argument("--loghub", metavar="DIR", help="the loghub corpus (shared/data/loghub)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return func(args)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
