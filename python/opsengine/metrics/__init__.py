"""Metrics: sample formats (Prometheus text, JSON, Arrow/Parquet) and metric rules.

``formats`` reads samples into the metrics Arrow schema (``ts``, ``host``, ``name``,
``labels``, ``value``); ``rules.MetricRuleSet`` evaluates the ``kind: metric`` rules over
them in the core and returns alert changes. NAMES.md lists the metric names the host
collector emits and the default rules read.
"""

from opsengine.metrics.formats import (
    METRICS_SCHEMA,
    MetricFormatError,
    parse_json_samples,
    parse_prometheus,
    read_metrics_file,
)
from opsengine.metrics.rules import MetricRuleSet

__all__ = [
    "METRICS_SCHEMA",
    "MetricFormatError",
    "MetricRuleSet",
    "parse_json_samples",
    "parse_prometheus",
    "read_metrics_file",
]
