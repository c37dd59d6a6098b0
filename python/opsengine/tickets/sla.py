"""SLA policies and the clocks they put on a ticket.

A policy names a calendar and, per priority, targets for first response and resolution
in business time. A ticket's clocks are never counted up step by step: like zammad's
escalation model they are *recomputed* from the calendar, the ticket's creation time,
its pending periods (the clocks stop while the ticket waits on the requester) and the
times the targets were met, every time the ticket changes and whenever they are read.
So editing a calendar or a policy, or importing a ticket with its history, gives the
same due times a live ticket would have had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opsengine.durations import format_duration, parse_duration
from opsengine.tickets.calendar import BusinessCalendar, Interval

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
TARGETS = ("first_response", "resolution")
MAX_TARGET_S = 366 * 86400.0


class PolicyError(ValueError):
    """A policy that cannot be used; the message starts with the field it is about."""


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    calendar: str
    targets: dict[str, dict[str, float]]  # priority → target → business seconds

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> SlaPolicy:
        calendar = spec.get("calendar")
        if not isinstance(calendar, str) or not calendar.strip():
            raise PolicyError("calendar: required, the name of a calendar")
        targets = spec.get("targets")
        if not isinstance(targets, dict) or not targets:
            raise PolicyError('targets: required, e.g. {"P1": {"first_response": "1h"}}')
        parsed: dict[str, dict[str, float]] = {}
        for prio, per in targets.items():
            if prio not in PRIORITIES:
                raise PolicyError(f"targets.{prio}: not a priority ({', '.join(PRIORITIES)})")
            if not isinstance(per, dict) or not per:
                raise PolicyError(f"targets.{prio}: expected {{first_response, resolution}}")
            parsed[prio] = {}
            for target, value in per.items():
                where = f"targets.{prio}.{target}"
                if target not in TARGETS:
                    raise PolicyError(f"{where}: not a target ({', '.join(TARGETS)})")
                try:
                    seconds = parse_duration(value)
                except ValueError as e:
                    raise PolicyError(f"{where}: {e}") from None
                if not 0 < seconds <= MAX_TARGET_S:
                    raise PolicyError(f"{where}: must be more than 0 and at most 366d")
                parsed[prio][target] = seconds
        return cls(name, calendar.strip(), parsed)

    def to_spec(self) -> dict[str, Any]:
        return {
            "calendar": self.calendar,
            "targets": {
                p: {t: format_duration(s) for t, s in per.items()}
                for p, per in self.targets.items()
            },
        }


@dataclass(frozen=True)
class Clock:
    """One target's clock on one ticket."""

    target: str
    seconds: float  # the target, in business seconds
    due: datetime | None  # None while paused (the due time moves with the pause)
    met_at: datetime | None  # first response given / ticket solved
    elapsed: float  # business seconds counted so far (up to met_at or now)
    breached: bool
    paused: bool

    @property
    def remaining(self) -> float:
        return self.seconds - self.elapsed

    def reached(self, percent: float) -> bool:
        return self.elapsed >= self.seconds * percent / 100.0


def clocks(
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    *,
    priority: str,
    created_at: datetime,
    pauses: Sequence[Interval],
    paused_since: datetime | None,
    first_response_at: datetime | None,
    solved_at: datetime | None,
    now: datetime,
) -> dict[str, Clock]:
    """The ticket's clocks at ``now``. ``pauses`` are its finished pending periods;
    ``paused_since`` the start of the one it is in (None when not pending)."""
    now = now.astimezone(UTC)
    open_pauses = list(pauses)
    if paused_since is not None:
        open_pauses.append((paused_since, max(now, paused_since)))
    out: dict[str, Clock] = {}
    for target, met in (("first_response", first_response_at), ("resolution", solved_at)):
        seconds = policy.targets.get(priority, {}).get(target)
        if seconds is None:
            continue
        until = met or now
        elapsed = calendar.elapsed(created_at, until, open_pauses)
        paused = met is None and paused_since is not None
        # While paused the due time is not known: it is when the pause ends plus what is left.
        due = None if paused else calendar.add(created_at, seconds, open_pauses)
        # Met exactly on the due minute is in time; unmet, the due minute is the breach.
        breached = elapsed > seconds if met is not None else elapsed >= seconds
        out[target] = Clock(target, seconds, due, met, elapsed, breached, paused)
    return out
