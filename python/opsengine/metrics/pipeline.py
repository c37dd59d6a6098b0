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

The rules' clock follows the samples, so no sample may run ahead of the engine's clock:
samples dated past the tolerated skew are rejected (``future_times``), and samples within
it are stored at once but held back from the rules until the engine's clock reaches them,
so that one early sender cannot move the clock that every other series is judged by. A
saved clock that a future sample had already moved (before this bound existed) is reset
on start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from opsengine.alerts import AlertLog
from opsengine.durations import parse_duration
from opsengine.future_times import FutureTimes
from opsengine.metrics.formats import METRICS_SCHEMA, conform
from opsengine.metrics.rules import DEFAULT_LOOKBACK, DEFAULT_STEP, MetricRuleSet
from opsengine.rules.model import Rule
from opsengine.store import Store
from opsengine.store.metric_store import MetricSeriesCatalogue, append_metrics

log = logging.getLogger(__name__)

STATE_KEY = "metric_rules:state"
#: Rows per batch when reloading history after a restart.
RELOAD_BATCH_ROWS = 1 << 20
_COLUMNS = "ts, host, name, labels, value"


@dataclass(frozen=True)
class SampleCounts:
    """Samples of one ingest call: accepted, refused as future-dated, refused as conflicting."""

    accepted: int
    future: int
    conflicts: int


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
        future: FutureTimes | None = None,
    ) -> None:
        self.store = store
        self.future = future or FutureTimes()
        # Stored samples dated after the engine's clock, not yet shown to the rules.
        self._ahead: pa.Table = METRICS_SCHEMA.empty_table()
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
        cls,
        store: Store,
        alerts: AlertLog,
        rules: Sequence[Rule],
        settings: Any,
        future: FutureTimes | None = None,
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
        return cls(
            store,
            alerts,
            rules,
            step=times["interval"],
            lookback=times["lookback"],
            future=future,
        )

    def ingest(
        self,
        samples: Any,
        *,
        source: str = "samples",
        in_transaction: Callable[[Any], None] | None = None,
    ) -> int:
        """Store samples (ts, host, name, labels, value), evaluate the rules; returns the
        samples accepted (see :meth:`ingest_counted` for the ones refused and why)."""
        return self.ingest_counted(samples, source=source, in_transaction=in_transaction).accepted

    def ingest_counted(
        self,
        samples: Any,
        *,
        source: str = "samples",
        in_transaction: Callable[[Any], None] | None = None,
    ) -> SampleCounts:
        """:meth:`ingest`, returning how many samples were accepted (resends of stored
        samples included: storing them is idempotent) and how many were refused: dated past
        the tolerated skew, or a different value at a timestamp already stored.

        ``in_transaction(cursor)`` runs in the transaction that stores the samples (a
        caller records there what they cover, so both commit or neither does).
        """
        table = samples if isinstance(samples, pa.Table) else pa.table(samples)
        table = conform(table, source=source)
        received = table.num_rows
        table = self.future.drop_future_samples(table)
        future = received - table.num_rows
        if table.num_rows == 0:
            if in_transaction is not None:
                with self.store.transaction() as cur:
                    in_transaction(cur)
            return SampleCounts(0, future, 0)
        appended = append_metrics(self.store, self.series, table, in_transaction=in_transaction)
        if len(self.rules):
            self._publish(self.rules.evaluate(self._due(table)))
        return SampleCounts(table.num_rows - appended.conflicts, future, appended.conflicts)

    def advance_to(self, now: datetime | None = None) -> int:
        """Evaluate the steps up to ``now`` (default: the wall clock) without new samples.

        The live engine calls this periodically so that silence is noticed — a host that
        stops reporting raises ``host_down`` only when time moves on. Returns the number
        of alert changes published.
        """
        now = now or self.future.clock()
        published = 0
        due = self._due(METRICS_SCHEMA.empty_table(), now)
        if due.num_rows and len(self.rules):
            published += self._publish(self.rules.evaluate(due))
        return published + self._publish(self.rules.advance_to(now))

    def _due(self, table: pa.Table, now: datetime | None = None) -> pa.Table:
        """The samples of ``table`` and of those held back that the clock has reached; the
        rest is held back (they are stored already; only the rules wait for them)."""
        if self._ahead.num_rows:
            table = pa.concat_tables([self._ahead, table.select(METRICS_SCHEMA.names)])
        limit = pa.scalar(now or self.future.clock(), METRICS_SCHEMA.field("ts").type)
        ahead = pc.greater(table.column("ts"), limit)
        if not pc.any(ahead).as_py():
            self._ahead = METRICS_SCHEMA.empty_table()
            return table
        self._ahead = table.filter(ahead)
        return table.filter(pc.invert(ahead))

    def reload_rules(self, rules: Sequence[Rule]) -> None:
        """Evaluate ``rules`` from now on, keeping the alerts of rules that stay."""
        state = self.rules.save_state()
        self.rules = MetricRuleSet(rules, step=self.step, lookback=self.lookback)
        self.rules.restore_state(state)
        self._ahead = METRICS_SCHEMA.empty_table()
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
            self.rules.restore_state(self._healed(saved))
        except ValueError as e:
            # A damaged state costs the pending timers, not the engine.
            log.error("metric rules start afresh: %s", e)
            return
        self._refill(self.rules.last_evaluation)

    def _healed(self, saved: str) -> str:
        """``saved`` with a clock that a future-dated sample moved ahead reset.

        The clock and the alerts that became active after the tolerated limit are
        dropped; the rules then start their clock again from the next sample.
        """
        try:
            state = json.loads(saved)
            last = state.get("last_eval")
        except (ValueError, AttributeError):
            return saved  # restore_state names the damage
        limit_ms = int(self.future.limit().timestamp() * 1000)
        if not isinstance(last, int) or last <= limit_ms:
            return saved
        log.warning(
            "metric rules: the saved evaluation clock (%s) is ahead of the engine's clock; "
            "it restarts from the next sample",
            datetime.fromtimestamp(min(last / 1000, 253402300799), UTC).isoformat(),
        )
        state["last_eval"] = None
        state["watermark"] = None
        state["alerts"] = {
            rule: [a for a in alerts if a.get("active_at", 0) <= limit_ms]
            for rule, alerts in (state.get("alerts") or {}).items()
        }
        healed = json.dumps(state)
        self.store.set_state(STATE_KEY, healed)
        return healed

    def _refill(self, last: datetime | None) -> None:
        """Reload the samples the windows need: from `history` before the last step on.

        Samples up to the last evaluated step only refill windows; samples after it (stored
        but not yet evaluated when the process stopped) complete their steps as usual.
        """
        if last is None or not len(self.rules):
            return
        since = last - timedelta(seconds=self.rules.history_seconds)
        now = self.future.clock()
        cur = self.store.cursor()
        try:
            # Samples past the engine's clock wait in _ahead, as they did before the restart;
            # any past the tolerated limit (stored before it existed) are left out.
            reader = cur.sql(
                f"SELECT {_COLUMNS} FROM metrics WHERE ts > $since AND ts <= $limit",
                params={"since": since, "limit": self.future.limit()},
            ).to_arrow_reader(RELOAD_BATCH_ROWS)
            published = 0
            for batch in reader:
                due = self._due(conform(pa.Table.from_batches([batch])), now)
                changes = self.rules.evaluate(due)
                if changes.num_rows:
                    self.alerts.publish(changes)
                    published += changes.num_rows
        finally:
            cur.close()
        if published:
            self.changes_published += published
            self.store.set_state(STATE_KEY, self.rules.save_state())
            log.info("metric rules: %d alert change(s) recovered from stored samples", published)
