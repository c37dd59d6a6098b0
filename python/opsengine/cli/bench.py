"""``opsengine bench``: measure this machine's capacity (the code is in ``opsengine.bench``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from opsengine.cli.common import EXIT_BAD_INPUT, EXIT_OK, CliError


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="measure this machine's capacity against the peers")
    bench.add_argument("--quick", action="store_true", help="a smaller corpus and fewer runs")
    bench.add_argument("--out", metavar="DIR", help="also write JSON results here")
    bench.add_argument("--loghub", metavar="DIR", help="the loghub corpus (shared/data/loghub)")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from opsengine.bench import matcher
    from opsengine.bench import store as store_bench

    out = Path(args.out) if args.out else None
    try:
        results = matcher.run(quick=args.quick, out=out, loghub=args.loghub)
    except FileNotFoundError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    print("## Log-rule matching (default pack, loghub corpus)")
    print(matcher.table(results))
    print("\n## Store and ingest (logs + events into a DuckDB file)")
    print(store_bench.table(store_bench.run(quick=args.quick, out=out, loghub=args.loghub)))
    if out:
        print(f"\nresults written to {out / 'matcher.json'} and {out / 'store.json'}")
    return EXIT_OK
