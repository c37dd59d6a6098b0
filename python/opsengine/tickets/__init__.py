"""The service desk: tickets with business-hours SLAs, satisfaction surveys, e-mail intake.

``engine.tickets`` is :class:`opsengine.tickets.service.TicketService`. This package's
``__init__`` imports nothing heavy: the store's migrations import ``tickets.tables``.
"""

from opsengine.tickets.model import (
    InvalidTransition,
    SurveyRefused,
    TicketError,
    TicketNotFound,
)

__all__ = ["InvalidTransition", "SurveyRefused", "TicketError", "TicketNotFound"]
