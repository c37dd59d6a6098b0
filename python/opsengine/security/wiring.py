"""Attaches ``engine.security`` to an engine (or the CLI's ``Domains``): findings on the
store, incidents through ``engine.alerts``, packages from ``engine.inventory``."""

from __future__ import annotations

from typing import Any

from opsengine.security.detections import AlertDetections, EventDetections, load_detections
from opsengine.security.service import SecurityService


def attach_security(engine: Any) -> None:
    engine.security = SecurityService(
        engine.store, engine.alerts, engine.inventory, engine.settings.security
    )
    # firing security alerts (brute force per source address, ...) -> detection findings
    engine.alerts.subscribe(
        "security_detections", AlertDetections(engine.security.findings, load_detections())
    )
    engine.security.events = EventDetections(
        engine.store, engine.security.findings, load_detections(source="events")
    )
