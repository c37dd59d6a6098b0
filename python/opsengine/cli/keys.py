"""``opsengine keys create|list|revoke``: API keys.

``keys create`` prints the token on stdout — once; only its hash is stored — and what
it made on stderr, so ``TOKEN=$(opsengine keys create --role viewer)`` works. Key changes
are written to the audit log as the local user. While ``opsengine run`` holds the
database, manage keys through the API (``/api/v1/keys``) instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from opsengine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    add_store_options,
    local_user,
    open_store,
)

if TYPE_CHECKING:
    from opsengine.access.audit import AuditTrail
    from opsengine.access.keys import KeyStore
    from opsengine.store import Store

WHILE_RUNNING = (
    "while the engine runs, manage keys through its API: "
    "POST/GET /api/v1/keys, DELETE /api/v1/keys/ID with an admin token"
)
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
        add_store_options(p)
    keys.set_defaults(func=lambda args: _usage(keys))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _open(args: argparse.Namespace) -> tuple[Store, KeyStore, AuditTrail]:
    """The store with its key store and audit trail."""
    from opsengine.access.audit import AuditTrail
    from opsengine.access.keys import KeyStore

    store = open_store(args, while_running=WHILE_RUNNING)
    return store, KeyStore(store), AuditTrail(store)


def _audit(audit: AuditTrail, action: str, detail: str | None = None) -> None:
    from opsengine.access.audit import AuditEntry

    audit.record(
        AuditEntry(
            actor=f"cli:{local_user()}", action=action, client="cli", outcome="ok", detail=detail
        )
    )
    audit.flush()


def cmd_keys_create(args: argparse.Namespace) -> int:
    store, keys, audit = _open(args)
    with store:
        new = keys.create(args.role, args.name, created_by=f"cli:{local_user()}")
        _audit(audit, f"keys create {new.key.id}", f"role {new.key.role}")
    print(
        f"created {new.key.role} key {new.key.id} ({new.key.name}); "
        "the token below is shown once, only its hash is stored",
        file=sys.stderr,
    )
    print(new.token, flush=True)
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace) -> int:
    store, keys, _ = _open(args)
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
    from opsengine.access.keys import KeyError_

    store, keys, audit = _open(args)
    with store:
        try:
            key = keys.revoke(args.key_id, revoked_by=f"cli:{local_user()}")
        except KeyError_ as e:
            raise CliError(f"{args.key_id}: {e}", EXIT_BAD_INPUT) from e
        _audit(audit, f"keys revoke {key.id}")
    print(f"revoked key {key.id} ({key.name}); its token no longer works", file=sys.stderr)
    return EXIT_OK
