"""The ``keys`` command of the ``opsengine`` CLI: create, list and revoke API keys.

``keys create`` prints the token on stdout — once; only its hash is stored — and what
it made on stderr, so ``TOKEN=$(opsengine keys create --role viewer)`` works. Key changes
are written to the audit log as the local user. While ``opsengine run`` holds the
database, manage keys through the API (``/api/v1/keys``) instead.
"""

from __future__ import annotations

import argparse
import getpass
import sys

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
ROLES = ("viewer", "operator", "admin")  # spelled here so the parser loads no DuckDB


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    ksub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    create = ksub.add_parser("create", help="make a key; prints its token once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default="", help="what the key is for")
    create.set_defaults(func=cmd_keys_create)
    lst = ksub.add_parser("list", help="list keys (never their tokens)")
    lst.add_argument("--active", action="store_true", help="leave out revoked keys")
    lst.set_defaults(func=cmd_keys_list)
    revoke = ksub.add_parser("revoke", help="revoke a key by id; its token stops working")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(func=cmd_keys_revoke)
    for p in (create, lst, revoke):
        p.add_argument("--db", metavar="PATH", help="the DuckDB file (default: ./opsengine.duckdb)")
        p.add_argument("--config", metavar="FILE", help="settings file")
    keys.set_defaults(func=lambda args: _usage(keys))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _open(args: argparse.Namespace):
    """(store, KeyStore, AuditTrail) or an exit code after saying why not."""
    from opsengine.api.audit import AuditTrail
    from opsengine.api.keys import KeyStore
    from opsengine.config import ConfigError, load_settings
    from opsengine.store import Store, StoreError, StoreLockedError

    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        return _failed(e, EXIT_BAD_INPUT)
    try:
        store = Store(args.db or settings.db)
    except StoreLockedError as e:
        return _failed(
            f"{e}\nwhile the engine runs, manage keys through its API: "
            "POST/GET /api/v1/keys, DELETE /api/v1/keys/ID with an admin token",
            EXIT_FAILURE,
        )
    except StoreError as e:
        return _failed(e, EXIT_FAILURE)
    return store, KeyStore(store), AuditTrail(store)


def _audit(audit, action: str, detail: str | None = None) -> None:
    from opsengine.api.audit import AuditEntry

    audit.record(
        AuditEntry(actor=f"cli:{_user()}", action=action, client="cli", outcome="ok", detail=detail)
    )
    audit.flush()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cmd_keys_create(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    store, keys, audit = opened
    with store:
        new = keys.create(args.role, args.name, created_by=f"cli:{_user()}")
        _audit(audit, f"keys create {new.key.id}", f"role {new.key.role}")
    print(
        f"created {new.key.role} key {new.key.id} ({new.key.name}); "
        "the token below is shown once, only its hash is stored",
        file=sys.stderr,
    )
    print(new.token, flush=True)
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    store, keys, _ = opened
    with store:
        listed = keys.list(include_revoked=not args.active)
    if not listed:
        print("no API keys (opsengine keys create --role admin makes one)", file=sys.stderr)
        return EXIT_OK
    print(f"{'ID':<12}  {'ROLE':<8}  {'CREATED (UTC)':<19}  {'REVOKED (UTC)':<19}  NAME")
    for k in listed:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
        created = k.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{k.id:<12}  {k.role:<8}  {created:<19}  {revoked:<19}  {k.name}")
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from opsengine.api.keys import KeyError_

    opened = _open(args)
    if isinstance(opened, int):
        return opened
    store, keys, audit = opened
    with store:
        try:
            key = keys.revoke(args.key_id, revoked_by=f"cli:{_user()}")
        except KeyError_ as e:
            return _failed(f"{args.key_id}: {e}", EXIT_BAD_INPUT)
        _audit(audit, f"keys revoke {key.id}")
    print(f"revoked key {key.id} ({key.name}); its token no longer works", file=sys.stderr)
    return EXIT_OK


def _failed(error: object, code: int) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code
