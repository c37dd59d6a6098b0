"""The metric path of the engine: samples → ``metrics`` table → metric rules → alerts.

Order of work for each batch, chosen so that a crash never loses an alert: the samples
are committed first; then the rules are evaluated and their changes published to the
alert log; the rules' state (pending timers, firing alerts, evaluation clock) is saved in
``engine_state`` last. After a crash between those steps the engine restores the older
state and re-reads the samples since then from the store, so the same changes are
published again (the alert log upserts them: at least once, never lost).

On start the state is restored and the samples the rules' windows need (``rate(x[5m])``
needs five minutes) are reloaded from ``metrics``, so a restart keeps pending timers and
windows alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from opsengine.alerts import AlertLog
from opsengine.durations import parse_duration
from opsengine.metrics.formats import conform
from opsengine.metrics.rules import DEFAULT_LOOKBACK, DEFAULT_STEP, MetricRuleSet
from opsengine.rules.model import Rule
from opsengine.store import Store
from opsengine.store.metric_store import MetricSeriesCatalogue, append_metrics

log = logging.getLogger(__name__)

STATE_KEY = "metric_rules:state"
#: Rows per batch when reloading history after a restart.
RELOAD_BATCH_ROWS = 1 << 20
_COLUMNS = "ts, host, name, labels, value"


class MetricPipeline:
    """Stores samples and evaluates the metric rules over them, in event time."""

    def __init__(
        self,
        store: Store,
        alerts: AlertLog,
        rules: Sequence[Rule],
        *,
        step: float = DEFAULT_STEP,
        lookback: float = DEFAULT_LOOKBACK,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.step, self.lookback = step, lookback
        self.rules = MetricRuleSet(rules, step=step, lookback=lookback)
        # Samples are stored as (ts, series id, value); each series' labels once.
        self.series = MetricSeriesCatalogue(store.cursor())
        #: Alert changes published by metric rules since this pipeline started.
        self.changes_published = 0
        self._resume()

    @classmethod
    def from_settings(
        cls, store: Store, alerts: AlertLog, rules: Sequence[Rule], settings: Any
    ) -> MetricPipeline:
        """Built from ``[metric_rules]`` settings (``interval``, ``lookback``)."""
        from opsengine.config import ConfigError

        times = {}
        for name in ("interval", "lookback"):
            try:
                times[name] = parse_duration(getattr(settings, name))
            except ValueError as e:
                raise ConfigError(f"metric_rules.{name}: {e}") from None
            if times[name] <= 0:
                raise ConfigError(f"metric_rules.{name}: must be positive, e.g. 1m")
        return cls(store, alerts, rules, step=times["interval"], lookback=times["lookback"])

    def ingest(
        self,
        samples: Any,
        *,
        source: str = "samples",
        in_transaction: Callable[[Any], None] | None = None,
    ) -> int:
        """Store samples (ts, host, name, labels, value), evaluate the rules; returns rows.

        ``in_transaction(cursor)`` runs in the transaction that stores the samples (a
        caller records there what they cover, so both commit or neither does).
        """
        table = samples if isinstance(samples, pa.Table) else pa.table(samples)
        table = conform(table, source=source)
        if table.num_rows == 0:
            return 0
        append_metrics(self.store, self.series, table, in_transaction=in_transaction)
        if len(self.rules):
            self._publish(self.rules.evaluate(table))
        return table.num_rows

    def advance_to(self, now: datetime | None = None) -> int:
        """Evaluate the steps up to ``now`` (default: the wall clock) without new samples.

        The live engine calls this periodically so that silence is noticed — a host that
        stops reporting raises ``host_down`` only when time moves on. Returns the number
        of alert changes published.
        """
        return self._publish(self.rules.advance_to(now or datetime.now(UTC)))

    def reload_rules(self, rules: Sequence[Rule]) -> None:
        """Evaluate ``rules`` from now on, keeping the alerts of rules that stay."""
        state = self.rules.save_state()
        self.rules = MetricRuleSet(rules, step=self.step, lookback=self.lookback)
        self.rules.restore_state(state)
        self._refill(self.rules.last_evaluation)

    def _publish(self, changes: pa.Table) -> int:
        if changes.num_rows:
            self.alerts.publish(changes)
            self.changes_published += changes.num_rows
        self.store.set_state(STATE_KEY, self.rules.save_state())
        return changes.num_rows

    def _resume(self) -> None:
        saved = self.store.get_state(STATE_KEY)
        if saved is None or not len(self.rules):
            return
        try:
            self.rules.restore_state(saved)
        except ValueError as e:
            # A damaged state costs the pending timers, not the engine.
            log.error("metric rules start afresh: %s", e)
            return
        self._refill(self.rules.last_evaluation)

    def _refill(self, last: datetime | None) -> None:
        """Reload the samples the windows need: from `history` before the last step on.

        Samples up to the last evaluated step only refill windows; samples after it (stored
        but not yet evaluated when the process stopped) complete their steps as usual.
        """
        if last is None or not len(self.rules):
            return
        since = last - timedelta(seconds=self.rules.history_seconds)
        cur = self.store.cursor()
        try:
            reader = cur.sql(
                f"SELECT {_COLUMNS} FROM metrics WHERE ts > $since", params={"since": since}
            ).to_arrow_reader(RELOAD_BATCH_ROWS)
            published = 0
            for batch in reader:
                changes = self.rules.evaluate(batch)
                if changes.num_rows:
                    self.alerts.publish(changes)
                    published += changes.num_rows
        finally:
            cur.close()
        if published:
            self.changes_published += published
            self.store.set_state(STATE_KEY, self.rules.save_state())
            log.info("metric rules: %d alert change(s) recovered from stored samples", published)
