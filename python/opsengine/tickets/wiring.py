"""Attaches the service desk to an engine: ``engine.tickets`` and ``engine.kb``, the SLA
alerts, and the subscription that solves tickets when their incident resolves."""

from __future__ import annotations

from typing import Any

from opsengine.tickets.service import TicketService
from opsengine.tickets.sla_alerts import SlaAlerts


def attach_service_desk(engine: Any) -> None:
    """Set ``engine.tickets`` (with ``engine.tickets.sla_alerts``) and ``engine.kb``;
    after :func:`opsengine.incidents.wiring.incident_domains`."""
    from opsengine.kb.service import KnowledgeBase

    settings = engine.settings.tickets
    engine.tickets = TicketService(
        engine.store,
        settings,
        incidents=engine.incidents,
        problems=engine.problems,
        alerts=engine.alerts,
    )
    engine.tickets.sla_alerts = SlaAlerts(
        engine.tickets, engine.alerts, float(settings.sla_warning_percent)
    )
    engine.incidents.listen("tickets", engine.tickets.on_incident_changes)
    engine.kb = KnowledgeBase(
        engine.store, engine.store.data_dir / "kb-index", problems=engine.problems
    )
    engine.tickets.kb = engine.kb
