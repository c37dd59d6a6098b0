"""Attaches the incident-side domains to an engine and subscribes them to its alerts.

Order matters: incidents open first; problems attach known errors and propose problems;
notifications go out last, so a notice already carries the known-error article.
"""

from __future__ import annotations

from typing import Any

from opsengine.incidents.service import IncidentService
from opsengine.notify.service import NotificationService
from opsengine.problems.service import ProblemService


def attach_incident_domains(engine: Any) -> None:
    """Set ``engine.incidents``, ``engine.problems`` and ``engine.notify``; subscribe them."""
    settings = engine.settings.incidents
    engine.incidents = IncidentService(engine.store, settings)
    engine.problems = ProblemService(engine.store, engine.incidents, settings)
    engine.notify = NotificationService(engine.store, engine.incidents, settings)
    engine.notify.describe_known_error = engine.problems.describe_known_error
    engine.incidents.listen("problems", engine.problems.on_incident_changes)
    engine.incidents.listen("notify", engine.notify.on_incident_changes)
    engine.alerts.subscribe("incidents", engine.incidents.on_alert_changes)
