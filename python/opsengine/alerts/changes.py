"""The shape of an alert state change, and the fingerprint that names an alert.

A change is one row: an alert (rule + labels → fingerprint) entered ``pending``,
``firing`` or ``resolved`` at event time ``ts``. ``active_since`` is when the condition
first held (the first evidence: the first sample or log line behind it), ``fired_at``
when ``for:`` elapsed, ``resolved_at`` when it stopped holding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

ALERT_STATES = ("pending", "firing", "resolved")
SOURCES = ("metric", "log", "probe", "alertmanager", "api", "config", "sla", "security")

_TS = pa.timestamp("us", tz="UTC")
_MAP = pa.map_(pa.string(), pa.string())

ALERT_CHANGES = pa.schema(
    [
        pa.field("ts", _TS, nullable=False),  # event time of this change
        pa.field("rule", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),  # pending | firing | resolved
        pa.field("labels", _MAP),
        pa.field("annotations", _MAP),
        pa.field("value", pa.float64()),
        pa.field("active_since", _TS, nullable=False),
        pa.field("fired_at", _TS),
        pa.field("resolved_at", _TS),
        # severity: critical | high | medium | low | info
        pa.field("severity", pa.string()),
        # category: availability | performance | error | security | config
        pa.field("category", pa.string()),
        # source: metric | log | probe | alertmanager | api | config | sla | security
        pa.field("source", pa.string(), nullable=False),
    ]
)


def fingerprint(rule: str, labels: Mapping[str, str] | None) -> str:
    """A stable id for (rule, label set): 16 hex digits of SHA-256 over the sorted pairs.

    The ``alertname`` label, when present, is the rule itself and is not hashed twice.
    """
    h = hashlib.sha256(rule.encode())
    for k, v in sorted((labels or {}).items()):
        if k == "alertname":
            continue
        h.update(b"\0")
        h.update(k.encode())
        h.update(b"=")
        h.update(str(v).encode())
    return h.hexdigest()[:16]


@dataclass(slots=True)
class AlertChange:
    """One change, for producers with a handful of alerts (probes, webhooks, tests)."""

    ts: datetime
    rule: str
    state: str
    active_since: datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    severity: str | None = None
    category: str | None = None
    source: str = "api"
    fingerprint: str | None = None  # computed from rule + labels when not given

    def __post_init__(self) -> None:
        if self.state not in ALERT_STATES:
            raise ValueError(
                f"alert {self.rule!r}: state {self.state!r} is not one of {ALERT_STATES}"
            )
        if self.source not in SOURCES:
            raise ValueError(f"alert {self.rule!r}: source {self.source!r} is not one of {SOURCES}")
        for name in ("ts", "active_since", "fired_at", "resolved_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"alert {self.rule!r}: {name} must be timezone-aware")
        if self.fingerprint is None:
            self.fingerprint = fingerprint(self.rule, self.labels)


def changes_table(changes: Iterable[AlertChange]) -> pa.Table:
    """Build an :data:`ALERT_CHANGES` table from a few :class:`AlertChange` objects."""
    rows = list(changes)
    columns = {}
    for f in ALERT_CHANGES:
        values = [getattr(c, f.name) for c in rows]
        if f.type == _MAP:
            values = [list(v.items()) if v else [] for v in values]
        columns[f.name] = pa.array(values, type=f.type)
    return pa.Table.from_pydict(columns, schema=ALERT_CHANGES)
