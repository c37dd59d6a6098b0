"""Incidents: alerts deduplicated, grouped and prioritised into incidents with a timeline.

``engine.incidents`` is an :class:`IncidentService`; it subscribes to ``engine.alerts``.
See :mod:`opsengine.incidents.correlation` for how alerts become incidents and
:mod:`opsengine.incidents.model` for states and the priority matrix.
"""

from opsengine.incidents.model import (
    INCIDENT_CATEGORIES,
    STATES,
    IncidentChange,
    IncidentError,
    IncidentNotFound,
    InvalidTransition,
    priority,
)
from opsengine.incidents.service import IncidentService

__all__ = [
    "INCIDENT_CATEGORIES",
    "STATES",
    "IncidentChange",
    "IncidentError",
    "IncidentNotFound",
    "IncidentService",
    "InvalidTransition",
    "priority",
]
