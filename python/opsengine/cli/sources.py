"""The ``tail`` and ``probe`` commands of the ``opsengine`` CLI (the sources, one at a time).

``opsengine tail PATH…`` follows log files into the store until interrupted (``--once``:
store what is there, finish rotated files, exit). ``opsengine probe URL|HOST:PORT`` runs one
uptime check and prints its result.
Exit codes: 0 ok, 1 runtime failure (or a failing probe), 2 bad input.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    add_store_options,
    open_engine,
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tail`` and ``probe`` on the CLI's subcommand parsers."""
    tail = subparsers.add_parser(
        "tail", help="follow log files into the store (rotation-safe, resumes after restarts)"
    )
    tail.add_argument("paths", nargs="+", metavar="PATH", help="files or globs to follow")
    add_store_options(tail)
    tail.add_argument("--host", help="host the lines came from (default: parsed from each line)")
    tail.add_argument(
        "--multiline-start", metavar="REGEX",
        help="a record starts at a line matching this; other lines continue it",
    )  # fmt: skip
    tail.add_argument(
        "--read-from", choices=("beginning", "end"), default=None,
        help="where files never seen before are read from (default: beginning)",
    )  # fmt: skip
    tail.add_argument(
        "--once", action="store_true", help="store what is there, finish rotated files, exit"
    )
    tail.set_defaults(func=cmd_tail)

    probe = subparsers.add_parser("probe", help="run one uptime check (http(s) URL or host:port)")
    probe.add_argument("target", metavar="URL|HOST:PORT")
    probe.add_argument("--status", type=int, default=None, help="expected HTTP status")
    probe.add_argument("--contains", metavar="TEXT", help="the body must contain this")
    probe.add_argument("--max-latency-ms", type=float, default=None, metavar="MS")
    probe.add_argument(
        "--cert-days", type=int, default=None, metavar="DAYS",
        help="fail when the TLS certificate expires within this many days",
    )  # fmt: skip
    probe.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS")
    probe.set_defaults(func=cmd_probe)


def cmd_tail(args: argparse.Namespace) -> int:
    from opsengine.sources.files import FileTailer

    with open_engine(args) as engine:
        settings = engine.settings
        try:
            tailer = FileTailer(
                engine.logs,
                args.paths,
                multiline_start=args.multiline_start or settings.files.multiline_start or None,
                poll_ms=settings.files.poll_ms,
                read_from=args.read_from or settings.files.read_from,
                host=args.host,
                fingerprint_lines=settings.files.fingerprint_lines,
            )
        except ValueError as e:
            raise CliError(e, EXIT_BAD_INPUT) from e
        if args.once:
            n = tailer.drain()
            print(f"{n:,} records stored from {', '.join(tailer.watches)}")
            return EXIT_OK if not tailer.errors else EXIT_FAILURE
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        tailer.start()
        print(
            f"following {', '.join(tailer.watches)} into {engine.store.path} (Ctrl-C stops)",
            flush=True,
        )
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            tailer.stop()
        print(f"{tailer.lines_stored:,} records stored", file=sys.stderr)
    return EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    from opsengine.sources.probes import ProbeCheck, run_check

    spec: dict = {"name": args.target, "timeout_s": args.timeout}
    spec["url" if "://" in args.target else "tcp"] = args.target
    for key, value in (
        ("expect_status", args.status),
        ("body_contains", args.contains),
        ("max_latency_ms", args.max_latency_ms),
        ("cert_days", args.cert_days),
    ):
        if value is not None:
            spec[key] = value
    try:
        check = ProbeCheck.from_dict(spec, where="probe")
    except ValueError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    result = run_check(check)
    parts = [f"{'ok' if result.ok else 'FAIL'} {check.target}"]
    if result.status is not None:
        parts.append(f"status {result.status}")
    if result.latency_ms is not None:
        parts.append(f"{result.latency_ms:.1f} ms")
    if result.cert_days_left is not None:
        parts.append(f"certificate expires in {result.cert_days_left:.0f} days")
    if result.error:
        parts.append(result.error)
    print(", ".join(parts))
    return EXIT_OK if result.ok else EXIT_FAILURE
