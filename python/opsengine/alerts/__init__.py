"""Alerts: the one signal every producer emits and every ops domain consumes.

Producers (metric rules, log-rule thresholds, probes, the Alertmanager receiver) hand
alert *state changes* to :class:`AlertLog` as an Arrow table with the schema
:data:`ALERT_CHANGES`. The log keeps one row per alert instance in the ``alerts`` table
(keyed by fingerprint and ``active_since``) and then passes the same changes to its
subscribers (incidents, notifications) — after the commit, so a failing subscriber never
costs an alert; its failure is counted and logged.
"""

from opsengine.alerts.changes import (
    ALERT_CHANGES,
    ALERT_STATES,
    AlertChange,
    changes_table,
    fingerprint,
)
from opsengine.alerts.log import AlertLog

__all__ = [
    "ALERT_CHANGES",
    "ALERT_STATES",
    "AlertChange",
    "AlertLog",
    "changes_table",
    "fingerprint",
]
