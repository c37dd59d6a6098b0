"""What a ticket is: its states and allowed moves, priorities, and the errors the desk raises."""

from __future__ import annotations

STATUSES = ("new", "open", "pending", "solved", "closed")
OPEN_STATUSES = ("new", "open", "pending")

#: status → the statuses it may move to. A solved ticket is reopened (→ open) or closed;
#: a closed one is final (a new request is a new ticket). Closing needs a solve first.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "solved"),
    "open": ("pending", "solved"),
    "pending": ("open", "solved"),
    "solved": ("open", "closed"),
    "closed": (),
}

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")

#: ticket priority → (impact, urgency) of the incident an escalation opens.
ESCALATION_LEVELS = {
    "P1": ("high", "high"),
    "P2": ("high", "medium"),
    "P3": ("medium", "medium"),
    "P4": ("medium", "low"),
    "P5": ("low", "low"),
}


class TicketError(ValueError):
    """Bad input for a ticket action; the message starts with the field; nothing changed."""


class TicketNotFound(TicketError, LookupError):
    """No ticket (calendar, policy, survey) with that id or name."""


class InvalidTransition(TicketError):
    """The ticket cannot move from its status to the one asked for."""


class SurveyRefused(TicketError):
    """A CSAT token that is forged, expired or already used; nothing was recorded."""


def check_transition(ticket_id: int, current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise TicketError(f"status: must be one of {', '.join(STATUSES)}, got {wanted!r}")
    if wanted not in TRANSITIONS[current]:
        hint = " (solve it first)" if wanted == "closed" else ""
        raise InvalidTransition(
            f"status: ticket {ticket_id} cannot move from {current} to {wanted}{hint}"
        )
