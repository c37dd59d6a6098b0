"""Template ids for stored log lines, the ``log_templates`` catalogue, per-minute template
counts, and the ``kind: new_template`` signal.

The miner (core/src/templates.rs) runs on each batch's messages inside the batch's store
transaction, so ``logs.template_id``, the catalogue and the counts always agree. Its state is
snapshotted into ``template_miner_state`` in the same transaction whenever the batch created
templates (and at most a minute apart otherwise), so after a restart, even a ``kill -9``, the
miner hands out the ids the catalogue already holds instead of reusing them for other shapes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from opsengine.rules import Rule
from opsengine.store import Store
from opsengine.template_miner import TemplateMiner

#: Snapshot the miner at least this often (seconds) even when no template was created,
#: so the template texts it has generalised since survive a restart.
SNAPSHOT_EVERY = 60.0

_CATALOGUE_SQL = """
INSERT INTO log_templates (id, template, first_seen, last_seen, count, example)
SELECT id, template, first_seen, last_seen, count, example FROM batch_catalogue
ON CONFLICT (id) DO UPDATE SET
    template = excluded.template,
    first_seen = least(log_templates.first_seen, excluded.first_seen),
    last_seen = greatest(log_templates.last_seen, excluded.last_seen),
    count = log_templates.count + excluded.count
"""

_COUNTS_SQL = """
INSERT INTO log_template_counts_1m (minute, template_id, source, count)
SELECT minute, template_id, ?, count FROM batch_counts
"""

_NEW_TEMPLATE_EVENTS_SQL = """
SELECT b.ts, b.host, ?::VARCHAR AS source, ?::VARCHAR AS rule, ?::VARCHAR AS severity,
       ?::VARCHAR AS category,
       MAP {'template_id': CAST(b.template_id AS VARCHAR), 'template': t.template,
            'level': coalesce(b.level, '')} AS fields,
       b.log_id
FROM batch_templates b JOIN miner_templates t ON t.id = b.template_id
WHERE b.is_new AND (? OR list_contains(?, b.level))
"""


@dataclass(frozen=True, slots=True)
class MinedTemplates:
    """One batch's template ids, and what ``LogTemplates.record`` needs to store them."""

    ids: pa.UInt32Array
    is_new: pa.BooleanArray
    known: pa.UInt32Array  # every template id after this batch …
    texts: pa.StringArray  # … and its text
    snapshot: bytes | None  # the miner's state after this batch, when it is to be saved
    templates: int


class LogTemplates:
    """Gives every stored line a template id and keeps the catalogue in the store."""

    def __init__(
        self,
        store: Store,
        new_template_rules: Sequence[Rule] = (),
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.rules = tuple(new_template_rules)
        row = (
            store.cursor().execute("SELECT state FROM template_miner_state WHERE id = 1").fetchone()
        )
        if row is not None:
            self.miner = TemplateMiner.load(bytes(row[0]))
        else:
            self.miner = TemplateMiner(**(settings or {}))
        self._saved_templates = len(self.miner)
        self._saved_at = time.monotonic()

    def mine(self, messages: pa.Array) -> MinedTemplates:
        """Template ids for ``messages``, with the miner's state if it should be saved."""
        mined = self.miner.mine_with_news(messages)
        tids, texts, _counts = self.miner._miner.templates()
        snapshot = None
        if (
            len(self.miner) != self._saved_templates
            or time.monotonic() - self._saved_at > SNAPSHOT_EVERY
        ):
            # Taken now, not at commit: a later batch may be mined before this one is stored.
            snapshot = self.miner.save()
            self._saved_templates = len(self.miner)
            self._saved_at = time.monotonic()
        return MinedTemplates(
            ids=mined.column(0),
            is_new=mined.column(1),
            known=pa.array(tids, pa.uint32()),
            texts=pa.array(texts, pa.string()),
            snapshot=snapshot,
            templates=len(self.miner),
        )

    def record(
        self,
        cur: duckdb.DuckDBPyConnection,
        mined: MinedTemplates,
        *,
        messages: pa.Array,
        ts: pa.Array,
        log_ids: pa.Array,
        source: str,
        now: datetime,
    ) -> None:
        """Store what a mined batch adds to the catalogue and the per-minute counts (and the
        miner's state when due), in the caller's transaction."""
        ids = mined.ids
        if len(ids) == 0:
            return
        when = pc.fill_null(ts, pa.scalar(now, pa.timestamp("us", tz="UTC")))
        rows = pa.table({"id": ids, "ts": when, "row": log_ids})
        # Aggregate in Arrow: the store then touches one row per template of the batch.
        per_template = rows.group_by("id").aggregate(
            [("ts", "min"), ("ts", "max"), ("row", "min"), ("row", "count")]
        )
        touched = per_template.column("id")
        first_rows = pc.subtract(per_template.column("row_min"), log_ids[0])
        catalogue = pa.table(
            {
                "id": touched,
                "template": mined.texts.take(pc.index_in(touched, mined.known)),
                "first_seen": per_template.column("ts_min"),
                "last_seen": per_template.column("ts_max"),
                "count": per_template.column("row_count").cast(pa.uint64()),
                "example": messages.take(first_rows),
            }
        )
        counts = (
            pa.table({"minute": pc.floor_temporal(when, unit="minute"), "template_id": ids})
            .group_by(["minute", "template_id"])
            .aggregate([("template_id", "count")])
            .rename_columns(["minute", "template_id", "count"])
        )
        cur.register("batch_catalogue", catalogue)
        cur.register("batch_counts", counts)
        try:
            cur.execute(_CATALOGUE_SQL)
            cur.execute(_COUNTS_SQL, [source])
        finally:
            cur.unregister("batch_catalogue")
            cur.unregister("batch_counts")
        if mined.snapshot is not None:
            self._save_state(cur, mined.snapshot, mined.templates, now)

    def new_template_events(
        self,
        con: duckdb.DuckDBPyConnection,
        mined: MinedTemplates,
        *,
        ts: pa.Array,
        host: pa.Array,
        level: pa.Array,
        log_ids: pa.Array,
        source: str,
    ) -> pa.Table | None:
        """The ``events`` rows of the ``new_template`` rules for a mined batch (Arrow SQL on
        ``con``, an in-memory connection); None when there are none."""
        ids, is_new = mined.ids, mined.is_new
        if not self.rules or len(ids) == 0 or not pc.any(is_new).as_py():
            return None
        mask = pc.fill_null(is_new, False)
        fresh = pa.table(
            {
                "template_id": ids.filter(mask),
                "is_new": is_new.filter(mask),
                "ts": ts.filter(mask),
                "host": host.filter(mask),
                "level": level.filter(mask),
                "log_id": log_ids.filter(mask),
            }
        )
        cur = con.cursor()
        parts = []
        try:
            cur.register("batch_templates", fresh)
            cur.register("miner_templates", pa.table({"id": mined.known, "template": mined.texts}))
            for rule in self.rules:
                parts.append(
                    cur.sql(
                        _NEW_TEMPLATE_EVENTS_SQL,
                        params=[
                            source,
                            rule.name,
                            rule.severity,
                            rule.category,
                            not rule.levels,
                            list(rule.levels),
                        ],
                    ).to_arrow_table()
                )
        finally:
            cur.close()
        return pa.concat_tables(parts) if parts else None

    def snapshot(self, cur: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """Save the miner's current state in the caller's transaction."""
        self._save_state(cur, self.miner.save(), len(self.miner), now)
        self._saved_templates = len(self.miner)
        self._saved_at = time.monotonic()

    @staticmethod
    def _save_state(cur, state: bytes, templates: int, now: datetime) -> None:
        cur.execute(
            "INSERT OR REPLACE INTO template_miner_state VALUES (1, ?, ?, ?)",
            [state, templates, now],
        )
