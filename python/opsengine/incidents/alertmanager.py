"""Prometheus Alertmanager's webhook payload (version 4) → alert changes.

An existing Prometheus setup routes into opsengine by adding a webhook receiver whose
URL is the API's Alertmanager endpoint. The endpoint calls :func:`alertmanager_changes`
and publishes the result with ``engine.alerts.publish``; incidents follow as for any alert.

Mapping, per entry of ``alerts``:

* rule = ``labels.alertname`` (required); labels and annotations pass through (with
  ``generatorURL`` as the annotation ``generator_url``); the
  fingerprint is opsengine's (rule + labels), so firing and resolved pair up.
* ``status: firing`` → state firing at ``startsAt`` (active_since = fired_at = startsAt);
  ``status: resolved`` → state resolved at ``endsAt`` (active_since = startsAt).
* severity from ``labels.severity`` (critical/page → critical, error/high → high,
  warning/warn/medium → medium, low → low, info/none → info; otherwise medium);
  category from ``labels.category`` when it is one of opsengine's, else ``error``.

Every fault raises :class:`AlertmanagerPayloadError` naming the JSON field
(``alerts[2].startsAt``); nothing is converted from a payload with a fault.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from opsengine.alerts import AlertChange, changes_table

MAX_ALERTS = 10_000
MAX_LABELS = 64
MAX_STRING = 4_096
_SEVERITIES = {
    "critical": "critical", "page": "critical", "error": "high", "high": "high",
    "major": "high", "warning": "medium", "warn": "medium", "medium": "medium",
    "minor": "low", "low": "low", "info": "info", "none": "info",
}  # fmt: skip
_CATEGORIES = ("availability", "performance", "error", "security", "config")
_FRACTION = re.compile(r"(\.\d{6})\d+")


class AlertmanagerPayloadError(ValueError):
    """A malformed Alertmanager payload; ``field`` is the JSON path of the fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def alertmanager_changes(payload: dict[str, Any]) -> pa.Table:
    """The ALERT_CHANGES table for an Alertmanager v4 webhook payload."""
    if not isinstance(payload, dict):
        raise AlertmanagerPayloadError("$", "expected a JSON object")
    version = payload.get("version")
    if version != "4":
        raise AlertmanagerPayloadError("version", f'expected "4", got {version!r}')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise AlertmanagerPayloadError("alerts", "expected a list of alerts")
    if len(alerts) > MAX_ALERTS:
        raise AlertmanagerPayloadError("alerts", f"at most {MAX_ALERTS} alerts per payload")
    return changes_table([_change(i, a) for i, a in enumerate(alerts)])


def _change(i: int, alert: Any) -> AlertChange:
    where = f"alerts[{i}]"
    if not isinstance(alert, dict):
        raise AlertmanagerPayloadError(where, "expected an object")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise AlertmanagerPayloadError(
            f"{where}.status", f'expected "firing" or "resolved", got {status!r}'
        )
    labels = _strings(alert.get("labels"), f"{where}.labels")
    annotations = _strings(alert.get("annotations", {}), f"{where}.annotations")
    generator = alert.get("generatorURL")
    if isinstance(generator, str) and generator:
        annotations.setdefault("generator_url", generator[:MAX_STRING])
    rule = labels.get("alertname")
    if not rule:
        raise AlertmanagerPayloadError(f"{where}.labels.alertname", "required")
    starts = _time(alert.get("startsAt"), f"{where}.startsAt")
    severity = _SEVERITIES.get(labels.get("severity", "").lower(), "medium")
    category = labels.get("category") if labels.get("category") in _CATEGORIES else "error"
    common = dict(
        rule=rule, labels=labels, annotations=annotations, active_since=starts,
        severity=severity, category=category, source="alertmanager",
    )  # fmt: skip
    if status == "firing":
        return AlertChange(ts=starts, state="firing", fired_at=starts, **common)
    ends = _time(alert.get("endsAt"), f"{where}.endsAt")
    if ends < starts:
        raise AlertmanagerPayloadError(f"{where}.endsAt", "is before startsAt")
    return AlertChange(ts=ends, state="resolved", resolved_at=ends, **common)


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise AlertmanagerPayloadError(where, "expected an object of strings")
    if len(value) > MAX_LABELS:
        raise AlertmanagerPayloadError(where, f"at most {MAX_LABELS} entries")
    for k, v in value.items():
        if not isinstance(v, str):
            raise AlertmanagerPayloadError(
                f"{where}.{k}", f"expected a string, got {type(v).__name__}"
            )
        if len(k) > MAX_STRING or len(v) > MAX_STRING:
            raise AlertmanagerPayloadError(f"{where}.{k}", f"longer than {MAX_STRING} characters")
    return dict(value)


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise AlertmanagerPayloadError(where, "expected an RFC 3339 time string")
    text = _FRACTION.sub(r"\1", value.strip())
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise AlertmanagerPayloadError(where, f"not an RFC 3339 time: {value[:64]!r}") from None
    if ts.tzinfo is None:
        raise AlertmanagerPayloadError(where, "needs a time zone (Z or ±hh:mm)")
    if ts.year < 1970:
        raise AlertmanagerPayloadError(where, "is unset (year < 1970)")
    return ts.astimezone(UTC)
