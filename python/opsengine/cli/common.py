"""What every ``opsengine`` command shares: exit codes, opening the engine or the store, and
the one way a command reports that it failed.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (the message names the place). A command
raises :class:`CliError` (or lets ``open_engine``/``open_store`` raise it); ``cli.main``
prints it and returns its code.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsengine.alerts import AlertLog
    from opsengine.config import Settings
    from opsengine.config_mgmt.inventory_service import InventoryService
    from opsengine.config_mgmt.service import ConfigService
    from opsengine.engine import Engine
    from opsengine.incidents.service import IncidentService
    from opsengine.kb.service import KnowledgeBase
    from opsengine.notify.service import NotificationService
    from opsengine.problems.service import ProblemService
    from opsengine.security.service import SecurityService
    from opsengine.store import Store
    from opsengine.tickets.service import TicketService

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
# Spelled here rather than imported so that building the parser does not load DuckDB;
# a test checks it matches store.DEFAULT_DB.
DEFAULT_DB = "opsengine.duckdb"


class CliError(Exception):
    """A command failed: ``str(error)`` is printed after ``error:``, ``code`` is the exit code;
    ``hint`` (if any) follows on its own ``hint:`` line."""

    def __init__(self, message: object, code: int = EXIT_FAILURE, *, hint: str = "") -> None:
        super().__init__(str(message))
        self.code = code
        self.hint = hint


def fail(error: object, code: int) -> int:
    """Print ``error: …`` (and a hint, for a :class:`CliError`) on stderr; return ``code``."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    if isinstance(error, CliError) and error.hint:
        print(f"hint: {error.hint}", file=sys.stderr, flush=True)
    return code


def notice(message: str) -> None:
    """A line for the person at the terminal (stderr), apart from the command's output."""
    print(message, file=sys.stderr, flush=True)


def local_user(fallback: str = "unknown") -> str:
    """The user running the command, for audit entries and timelines."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return fallback


def add_store_options(parser: argparse.ArgumentParser, *, rules: bool = False) -> None:
    """``--db`` and ``--config`` (and ``--rules``) for a command that opens the store."""
    parser.add_argument("--db", metavar="PATH", help=f"the DuckDB file (default: ./{DEFAULT_DB})")
    parser.add_argument(
        "--config", metavar="FILE", help="settings file (default: ./opsengine.toml if present)"
    )
    if rules:
        parser.add_argument(
            "--rules", nargs="*", metavar="FILE", help="rule files (default: the default pack)"
        )


def load_cli_settings(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config`` (or ./opsengine.toml); bad ones exit 2."""
    from opsengine.config import ConfigError, load_settings

    try:
        return load_settings(getattr(args, "config", None))
    except ConfigError as e:
        raise CliError(e, EXIT_BAD_INPUT) from e


def open_engine(args: argparse.Namespace) -> Engine:
    """The engine on ``--db`` with ``--config`` and ``--rules``; bad input exits 2, a store
    that cannot be opened exits 1."""
    from opsengine.config import ConfigError
    from opsengine.engine import Engine
    from opsengine.rules import RuleError, RuleSet
    from opsengine.store import StoreError

    settings = load_cli_settings(args)
    try:
        rules = RuleSet.from_yaml(args.rules) if getattr(args, "rules", None) else None
        return Engine(getattr(args, "db", None) or settings.db, settings, rules=rules)
    except (ConfigError, RuleError) as e:
        raise CliError(e, EXIT_BAD_INPUT) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e


def open_store(
    args: argparse.Namespace, settings: Settings | None = None, *, while_running: str = ""
) -> Store:
    """The store on ``--db`` (or the settings' file) without the rest of the engine.

    ``while_running`` is the hint printed when a running engine holds the file (what to do
    instead). A store that cannot be opened exits 1.
    """
    from opsengine.store import Store, StoreError, StoreLockedError

    settings = settings or load_cli_settings(args)
    try:
        return Store(
            getattr(args, "db", None) or settings.db,
            memory_limit=settings.store.memory_limit,
            data_dir=settings.store.data_dir or None,
        )
    except StoreLockedError as e:
        raise CliError(e, EXIT_FAILURE, hint=while_running) from e
    except StoreError as e:
        raise CliError(e, EXIT_FAILURE) from e


class Domains:
    """The store with the incident-side services, the service desk and configuration
    management, without the rest of the engine (no rules, sources or admin channel): what
    the incident, ticket, kb, config and inventory commands act on. Resolving an incident
    here solves its linked tickets, as in the engine."""

    alerts: AlertLog
    incidents: IncidentService
    problems: ProblemService
    notify: NotificationService
    tickets: TicketService
    kb: KnowledgeBase
    config: ConfigService
    inventory: InventoryService
    security: SecurityService

    def __init__(self, args: argparse.Namespace, *, while_running: str) -> None:
        from opsengine.alerts import AlertLog
        from opsengine.config import ConfigError
        from opsengine.config_mgmt.wiring import attach_config_domain
        from opsengine.incidents.wiring import incident_domains
        from opsengine.tickets.wiring import attach_service_desk

        self.settings = load_cli_settings(args)
        self.store = open_store(args, self.settings, while_running=while_running)
        self.alerts = AlertLog(self.store)
        self.incidents, self.problems, self.notify = incident_domains(
            self.store, self.alerts, self.settings.incidents
        )
        attach_service_desk(self)
        try:  # engine.config, engine.inventory: drift alerts, config changes in reviews
            attach_config_domain(self)
        except ConfigError as e:
            self.store.close()
            raise CliError(e, EXIT_BAD_INPUT) from e
        from opsengine.security.wiring import attach_security

        attach_security(self)  # engine.security on the same store and inventory

    def close(self) -> None:
        self.store.close()


def domain_command(
    fn: Callable[[Domains, argparse.Namespace], int | None], *, while_running: str
) -> Callable[[argparse.Namespace], int]:
    """A command that opens :class:`Domains`, runs ``fn`` and maps its errors to exit codes:
    a store error exits 1, bad input (``ValueError``, ``LookupError``) exits 2."""

    def command(args: argparse.Namespace) -> int:
        from opsengine.store import StoreError

        domains = Domains(args, while_running=while_running)
        try:
            return fn(domains, args) or EXIT_OK
        except StoreError as e:
            return fail(e, EXIT_FAILURE)
        except (ValueError, LookupError) as e:
            return fail(e, EXIT_BAD_INPUT)
        finally:
            domains.close()

    return command


def acting_user(args: argparse.Namespace) -> str:
    """Who acts: ``--as USER``, else the local user."""
    return args.actor or local_user(fallback="cli")
