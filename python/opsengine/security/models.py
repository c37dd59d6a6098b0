"""Names of the security domain: finding kinds, severities, states and the errors."""

from __future__ import annotations

KINDS = ("detection", "vulnerability", "hardening")
SEVERITIES = ("critical", "high", "medium", "low", "info")
STATES = ("open", "acknowledged", "mitigated", "accepted_risk", "false_positive")
#: States a finding stays in until someone (or the next scan) changes it.
CLOSED = ("mitigated", "false_positive")
#: action -> (the states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("open",), "acknowledged"),
    "mitigate": (("open", "acknowledged", "accepted_risk"), "mitigated"),
    "accept-risk": (("open", "acknowledged"), "accepted_risk"),
    "false-positive": (("open", "acknowledged", "accepted_risk"), "false_positive"),
    "reopen": (("acknowledged", "mitigated", "accepted_risk", "false_positive"), "open"),
}
#: The alert behind a security incident (category security, source security).
FINDING_RULE = "security_finding"


class SecurityError(ValueError):
    """Bad input to the security domain; the message names the field."""


class FindingNotFound(LookupError):
    """No finding with that id."""


class InvalidTransition(SecurityError):
    """An action the finding's state does not allow (409 in the API)."""
