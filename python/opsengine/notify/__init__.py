"""Notifications and escalation: channels, the outbox, policies, on-call schedules, silences.

``engine.notify`` is a :class:`NotificationService`; see its module for the flow and
:mod:`opsengine.notify.delivery` for the never-twice sending guarantee.
"""

from opsengine.notify.channels import ChannelError, DeliveryError
from opsengine.notify.delivery import Outbox, idempotency_key
from opsengine.notify.matchers import Matcher, MatcherError, parse_matcher, parse_matchers
from opsengine.notify.policies import EscalationPolicies, PolicyError
from opsengine.notify.schedules import OnCallSchedules, ScheduleError, rotation_member
from opsengine.notify.service import NotificationService
from opsengine.notify.silences import SilenceError, Silences

__all__ = [
    "ChannelError",
    "DeliveryError",
    "EscalationPolicies",
    "Matcher",
    "MatcherError",
    "NotificationService",
    "OnCallSchedules",
    "Outbox",
    "PolicyError",
    "ScheduleError",
    "SilenceError",
    "Silences",
    "idempotency_key",
    "parse_matcher",
    "parse_matchers",
    "rotation_member",
]
