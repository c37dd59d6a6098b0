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
        # Metric expressions compile in the core: a typo is found here, not at evaluation.
        __import__("opsengine.metrics.rules").metrics.rules.MetricRuleSet(rules)
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


def _open_engine(args: argparse.Namespace):
    """The engine for a CLI command, or an exit code after printing why not."""
    from opsengine.config import ConfigError, load_settings
    from opsengine.engine import Engine
    from opsengine.rules import RuleError, RuleSet
    from opsengine.store import StoreError

    try:
        settings = load_settings(getattr(args, "config", None))
        rules = None
        if getattr(args, "rules", None):
            rules = RuleSet.from_yaml(args.rules)
        return Engine(args.db or settings.db, settings, rules=rules)
    except (ConfigError, RuleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE


def cmd_ingest_logs(args: argparse.Namespace) -> int:
    from opsengine.ingest import IngestError
    from opsengine.ingest.logs import terminal_progress
    from opsengine.store import StoreError

    engine = _open_engine(args)
    if isinstance(engine, int):
        return engine
    status = EXIT_OK
    total_lines = total_events = 0
    total_seconds = 0.0
    stages: dict[str, float] = {}
    with engine:
        for name in args.files:
            progress = terminal_progress() if sys.stderr.isatty() else None
            try:
                if name == "-":
                    result = engine.logs.ingest_stream(
                        sys.stdin.buffer,
                        source=args.source or "stdin",
                        host=args.host,
                        progress=progress,
                    )
                else:
                    result = engine.logs.ingest_file(
                        name, source=args.source, host=args.host, progress=progress
                    )
            except IngestError as e:
                if progress:
                    sys.stderr.write("\n")
                print(f"error: {e}", file=sys.stderr)
                status = EXIT_BAD_INPUT
                continue
            except StoreError as e:  # nothing after the last committed block is acknowledged
                if progress:
                    sys.stderr.write("\n")
                print(f"error: {e}", file=sys.stderr)
                return EXIT_FAILURE
            if progress:
                sys.stderr.write("\n")
            skipped = (
                f", {result.skipped_lines:,} already stored (skipped)"
                if result.skipped_lines
                else ""
            )
            print(
                f"{result.source}: {result.lines:,} lines, {result.events:,} events in "
                f"{result.seconds:.2f}s ({result.lines_per_s:,.0f} lines/s){skipped}"
            )
            total_lines += result.lines
            total_events += result.events
            total_seconds += result.seconds
            for k, v in result.stages.items():
                stages[k] = stages.get(k, 0.0) + v
        # Threshold rules (N events within a window) read what the files stored.
        engine.log_thresholds.poll()
        if len(args.files) > 1 or args.verbose:
            rate = total_lines / total_seconds if total_seconds else 0.0
            print(f"total: {total_lines:,} lines, {total_events:,} events, {rate:,.0f} lines/s")
        if args.verbose:
            spent = sum(stages.values()) or 1.0
            print(
                "time per stage: "
                + ", ".join(f"{k} {v:.2f}s ({v / spent:.0%})" for k, v in stages.items())
            )
    return status


def cmd_maintenance(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    if isinstance(engine, int):
        return engine
    with engine:
        report = engine.maintenance()
    deleted = ", ".join(f"{t} {n:,}" for t, n in report.deleted.items()) or "nothing"
    print(f"rolled up {report.rolled_up_minutes:,} metric rows into metrics_1m; deleted: {deleted}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from opsengine.bench import matcher
    from opsengine.bench import store as store_bench

    out = Path(args.out) if args.out else None
    try:
        results = matcher.run(quick=args.quick, out=out, loghub=args.loghub)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("## Log-rule matching (default pack, loghub corpus)")
    print(matcher.table(results))
    print("\n## Store and ingest (logs + events into a DuckDB file)")
    print(store_bench.table(store_bench.run(quick=args.quick, out=out, loghub=args.loghub)))
    if out:
        print(f"\nresults written to {out / 'matcher.json'} and {out / 'store.json'}")
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

    ingest = sub.add_parser("ingest", help="load data into the store")
    isub = ingest.add_subparsers(dest="ingest_command", metavar="KIND")
    __import__("opsengine.metrics_cli").metrics_cli.add_commands(isub)
    ilogs = isub.add_parser("logs", help="ingest log files (plain or gzip; - for stdin)")
    ilogs.add_argument("files", nargs="+", metavar="FILE")
    ilogs.add_argument("--db", help="the DuckDB file (default: ./opsengine.duckdb)")
    ilogs.add_argument("--config", help="settings file (default: ./opsengine.toml if present)")
    ilogs.add_argument(
        "--rules", nargs="*", metavar="FILE", help="rule files (default: the default pack)"
    )
    ilogs.add_argument("--source", help="source name (default: the file path)")
    ilogs.add_argument("--host", help="host the lines came from (default: parsed from each line)")
    ilogs.add_argument("-v", "--verbose", action="store_true", help="print time per stage")
    ilogs.set_defaults(func=cmd_ingest_logs)

    maint = sub.add_parser("maintenance", help="roll up metrics and apply retention now")
    maint.add_argument("--db", help="the DuckDB file (default: ./opsengine.duckdb)")
    maint.add_argument("--config", help="settings file")
    maint.set_defaults(func=cmd_maintenance)

    from opsengine import incidents_cli, keys_cli, run_cli, sources_cli, sql_cli

    for domain in (sql_cli, sources_cli, run_cli, keys_cli, incidents_cli):
        domain.add_commands(sub)

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
