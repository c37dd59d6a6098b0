"""Builds the incident-side domains over a store and subscribes them to its alert log.

Order matters: incidents open first; problems attach known errors and propose problems;
notifications go out last, so a notice already carries the known-error article.
"""

from __future__ import annotations

from typing import NamedTuple

from opsengine.alerts import AlertLog
from opsengine.config import IncidentSettings
from opsengine.incidents.service import IncidentService
from opsengine.notify.service import NotificationService
from opsengine.problems.service import ProblemService
from opsengine.store import Store


class IncidentDomains(NamedTuple):
    incidents: IncidentService
    problems: ProblemService
    notify: NotificationService


def incident_domains(store: Store, alerts: AlertLog, settings: IncidentSettings) -> IncidentDomains:
    """The incident, problem and notification services, listening to each other and to
    ``alerts``: ``engine.incidents``, ``engine.problems`` and ``engine.notify``."""
    incidents = IncidentService(store, settings)
    problems = ProblemService(store, incidents, settings)
    notify = NotificationService(store, incidents, settings)
    notify.describe_known_error = problems.describe_known_error
    incidents.listen("problems", problems.on_incident_changes)
    incidents.listen("notify", notify.on_incident_changes)
    alerts.subscribe("incidents", incidents.on_alert_changes)
    return IncidentDomains(incidents, problems, notify)
