r"""What an incident is: its states and allowed transitions, categories, and the priority matrix.

Priority follows the ITIL impact × urgency matrix (each high | medium | low):

=========== ======= ======= =======
impact      urgency
----------- -----------------------
\           high    medium  low
=========== ======= ======= =======
high        P1      P2      P3
medium      P2      P3      P4
low         P3      P4      P5
=========== ======= ======= =======

An alert's labels ``impact`` and ``urgency`` set them directly; otherwise both follow the
alert's severity (see :data:`SEVERITY_IMPACT` and :data:`SEVERITY_URGENCY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATES = ("triggered", "acknowledged", "resolved", "closed")
OPEN_STATES = ("triggered", "acknowledged")
LEVELS = ("high", "medium", "low")

#: state → the states an operator may move it to. Closing needs a resolution first, and a
#: reopened incident starts over as triggered.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "triggered": ("acknowledged", "resolved"),
    "acknowledged": ("resolved",),
    "resolved": ("closed", "triggered"),
    "closed": ("triggered",),
}

#: alert category (rule files) → incident category.
CATEGORIES = {
    "availability": "outage",
    "performance": "degraded performance",
    "error": "error",
    "security": "security breach",
    "config": "config",
}
INCIDENT_CATEGORIES = tuple(CATEGORIES.values())

SEVERITY_IMPACT = {
    "critical": "high",
    "high": "high",
    "medium": "medium",
    "low": "low",
    "info": "low",
}
SEVERITY_URGENCY = {
    "critical": "high",
    "high": "medium",
    "medium": "medium",
    "low": "low",
    "info": "low",
}

_PRIORITY = {
    ("high", "high"): "P1",
    ("high", "medium"): "P2",
    ("high", "low"): "P3",
    ("medium", "high"): "P2",
    ("medium", "medium"): "P3",
    ("medium", "low"): "P4",
    ("low", "high"): "P3",
    ("low", "medium"): "P4",
    ("low", "low"): "P5",
}


class IncidentError(ValueError):
    """Bad input for an incident action; nothing was changed."""


class IncidentNotFound(IncidentError, LookupError):
    """No incident with that id."""


class InvalidTransition(IncidentError):
    """The incident cannot move from its state to the one asked for."""


def priority(impact: str, urgency: str) -> str:
    """P1 (most urgent) … P5 by the matrix in this module's docstring."""
    for name, value in (("impact", impact), ("urgency", urgency)):
        if value not in LEVELS:
            raise IncidentError(f"{name} must be one of {', '.join(LEVELS)}, got {value!r}")
    return _PRIORITY[(impact, urgency)]


def impact_urgency(severity: str | None, labels: dict[str, str]) -> tuple[str, str]:
    """Impact and urgency of an alert: its labels if valid, else derived from severity."""
    sev = severity if severity in SEVERITY_IMPACT else "medium"
    impact = labels.get("impact", SEVERITY_IMPACT[sev])
    urgency = labels.get("urgency", SEVERITY_URGENCY[sev])
    return (
        impact if impact in LEVELS else SEVERITY_IMPACT[sev],
        urgency if urgency in LEVELS else SEVERITY_URGENCY[sev],
    )


def check_transition(incident_id: int, current: str, wanted: str) -> None:
    if wanted not in STATES:
        raise IncidentError(f"state must be one of {', '.join(STATES)}, got {wanted!r}")
    if wanted not in TRANSITIONS[current]:
        hint = " (resolve it first)" if wanted == "closed" else ""
        raise InvalidTransition(
            f"incident {incident_id}: cannot move from {current} to {wanted}{hint}"
        )


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One thing that happened to an incident, handed to listeners (notifications, problems)."""

    kind: str  # opened | reopened | grouped | repeated | acknowledged | resolved | closed | ...
    incident_id: int
    ts: datetime
    actor: str = "system"
    detail: dict[str, Any] | None = None
