"""Attaches ``engine.config`` and ``engine.inventory`` to an engine: the items and policies
declared in ``opsengine.toml``, approvals into the audit log, and the configuration
changes before an incident into its post-incident review."""

from __future__ import annotations

from typing import Any

from opsengine.access.audit import AuditEntry, AuditTrail
from opsengine.config import ConfigError
from opsengine.config_mgmt.inventory_service import InventoryService
from opsengine.config_mgmt.models import ConfigMgmtError
from opsengine.config_mgmt.service import ConfigService


def attach_config_domain(engine: Any) -> None:
    settings = engine.settings
    engine.config = ConfigService(engine.store, engine.alerts, settings.config)
    engine.inventory = InventoryService(engine.store, engine.alerts, settings.inventory)
    try:
        engine.config.declare(settings.config.item)
        engine.inventory.declare_policies(settings.inventory.policies)
    except ConfigMgmtError as e:
        raise ConfigError(str(e)) from None
    engine.config.audit_sink = _audit_sink(engine.store)
    engine.incidents.change_feeds["config_changes"] = engine.config.changes_between


def _audit_sink(store: Any):
    def record(action: str, detail: str, actor: str) -> None:
        client = "cli" if actor.startswith("cli") else "api"
        trail = AuditTrail(store)
        trail.record(AuditEntry(actor=actor, action=action, outcome="ok", client=client,
                                detail=detail))  # fmt: skip
        trail.flush()

    return record
