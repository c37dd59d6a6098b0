"""Alerts from log rules with ``threshold: {count: N, within: 5m, by: [field…]}``.

The matcher stores one ``events`` row per matching line; this module reads the new events
of threshold rules (by ``log_id``, which grows with every stored batch), feeds them to the
core's windows (``opsengine._core.LogThresholds``, ``core/src/thresholds.rs``) and
publishes what starts or stops firing to the alert log with source ``log``. Event time
drives the windows, so ``opsengine ingest logs`` on a file raises the alerts the live
engine raised. The windows and the last ``log_id`` read are saved in ``engine_state``
after each poll, so a restart neither loses a half-full window nor reads an event twice.

An alert's labels are the ``by`` fields' values and the rule's labels; its ``summary``
and annotations fill ``{field}`` placeholders from the event that fired it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from opsengine import _core
from opsengine.alerts.changes import ALERT_CHANGES, fingerprint
from opsengine.alerts.log import AlertLog
from opsengine.rules.model import Rule
from opsengine.store import Store

log = logging.getLogger(__name__)

STATE_KEY = "log_thresholds:state"
#: Events read per query when catching up.
POLL_ROWS = 1 << 18
_KEY_SEP = "\x1f"  # joins the `by` values of a key; never part of a log field
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(text: str, fields: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), text)


class LogThresholdAlerts:
    """Windows of the threshold log rules, fed from the ``events`` table."""

    def __init__(self, store: Store, alerts: AlertLog, rules: Sequence[Rule]) -> None:
        self.store = store
        self.alerts = alerts
        self.rules = tuple(r for r in rules if r.kind == "log" and r.threshold is not None)
        self._index = {r.name: i for i, r in enumerate(self.rules)}
        self._core = _core.LogThresholds(
            [
                {"name": r.name, "count": r.threshold.count, "within_seconds": r.threshold.within}
                for r in self.rules
            ]
        )
        self.last_log_id = 0
        self.changes_published = 0
        # Threads that ingest logs all poll; one at a time, or an event would count twice.
        self._lock = threading.Lock()
        saved = store.get_state(STATE_KEY)
        if saved is not None:
            try:
                state = json.loads(saved)
                self._core.restore_state(state["windows"])
                self.last_log_id = int(state["last_log_id"])
            except (ValueError, KeyError, TypeError) as e:
                log.error("log thresholds start afresh: %s", e)

    def __len__(self) -> int:
        return len(self.rules)

    def poll(self) -> int:
        """Read the events stored since the last poll; returns alert changes published."""
        if not self.rules:
            return 0
        with self._lock:
            return self._poll()

    def _poll(self) -> int:
        names = list(self._index)
        published = 0
        while True:
            cur = self.store.cursor()
            try:
                events = cur.sql(
                    "SELECT log_id, ts, rule, fields FROM events "
                    "WHERE log_id > $after AND list_contains($rules, rule) "
                    "ORDER BY log_id LIMIT $limit",
                    params={"after": self.last_log_id, "rules": names, "limit": POLL_ROWS},
                ).to_arrow_table()
            finally:
                cur.close()
            if events.num_rows == 0:
                break
            published += self._evaluate(events)
            self.last_log_id = events.column("log_id")[-1].as_py()
            self._save()
            if events.num_rows < POLL_ROWS:
                break
        return published

    def advance_to(self, now: datetime | None = None) -> int:
        """Resolve alerts whose window went quiet by ``now`` (default: the wall clock)."""
        now = now or datetime.now(UTC)
        ts_us = int(now.timestamp() * 1_000_000)
        with self._lock:
            changes = self._alert_changes(self._core.advance_to(ts_us), {})
            return self._publish(changes)

    def _evaluate(self, events: pa.Table) -> int:
        rules = events.column("rule").to_pylist()
        fields = [dict(f or []) for f in events.column("fields").to_pylist()]
        keys, index = [], []
        last_fields: dict[tuple[str, str], dict[str, str]] = {}
        for rule, f in zip(rules, fields, strict=True):
            r = self.rules[self._index[rule]]
            key = _KEY_SEP.join(f.get(b, "") for b in r.threshold.by)
            keys.append(key)
            index.append(self._index[rule])
            last_fields[(rule, key)] = f
        ts = events.column("ts").cast(pa.timestamp("us", tz="UTC")).combine_chunks()
        batch = self._core.evaluate(pa.array(index, pa.uint32()), ts, pa.array(keys, pa.string()))
        return self._publish(self._alert_changes(batch, last_fields))

    def _publish(self, changes: pa.Table) -> int:
        if changes.num_rows:
            self.alerts.publish(changes)
            self.changes_published += changes.num_rows
            self._save()
        return changes.num_rows

    def _save(self) -> None:
        state = {"last_log_id": self.last_log_id, "windows": self._core.save_state()}
        self.store.set_state(STATE_KEY, json.dumps(state))

    def _alert_changes(
        self, batch: pa.RecordBatch, last_fields: dict[tuple[str, str], dict[str, str]]
    ) -> pa.Table:
        if batch.num_rows == 0:
            return ALERT_CHANGES.empty_table()
        out: dict[str, list] = {f.name: [] for f in ALERT_CHANGES}
        for row in batch.to_pylist():
            rule = self.rules[self._index[row["rule"]]]
            by_values = row["key"].split(_KEY_SEP) if rule.threshold.by else []
            labels = dict(zip(rule.threshold.by, by_values, strict=True))
            fields = {**last_fields.get((rule.name, row["key"]), {}), **labels}
            labels.update(rule.labels)
            notes = {"summary": _fill(rule.summary, fields)}
            if rule.description:
                notes["description"] = _fill(rule.description, fields)
            notes.update({k: _fill(v, fields) for k, v in rule.annotations.items()})
            values = {
                "ts": row["ts"],
                "rule": rule.name,
                "fingerprint": fingerprint(rule.name, labels),
                "state": row["state"],
                "labels": sorted(labels.items()),
                "annotations": sorted(notes.items()),
                "value": float(row["count"]),
                "active_since": row["active_since"],
                "fired_at": row["fired_at"],
                "resolved_at": row["resolved_at"],
                "severity": rule.severity,
                "category": rule.category,
                "source": "log",
            }
            for k, v in values.items():
                out[k].append(v)
        return pa.Table.from_pydict(out, schema=ALERT_CHANGES)
