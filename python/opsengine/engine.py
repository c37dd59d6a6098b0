"""The embedded engine: one store, one rule set, and the ingestion paths wired to them.

Usable as a context manager::

    with Engine("ops.duckdb") as engine:
        engine.ingest_logs("/var/log/auth.log")
        engine.query("SELECT rule, count(*) FROM events GROUP BY ALL")
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from opsengine.config import Settings, load_settings
from opsengine.ingest import IngestResult, LogIngestor
from opsengine.rules import RuleSet, as_lines
from opsengine.store import Store
from opsengine.store.admin_channel import AdminChannel
from opsengine.store.maintenance import MaintenanceReport, run_maintenance

METRIC_COLUMNS = ("ts", "host", "name", "labels", "value")


class Engine:
    """opsengine embedded in a Python process."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        config: Settings | str | Path | None = None,
        *,
        rules: RuleSet | None = None,
        admin_channel: bool = True,
    ) -> None:
        self.settings = config if isinstance(config, Settings) else load_settings(config)
        self.store = Store(
            db_path or self.settings.db, memory_limit=self.settings.store.memory_limit
        )
        if rules is None:
            rules = (
                RuleSet.from_yaml(self.settings.rules) if self.settings.rules else RuleSet.default()
            )
        self.rules = rules
        self.logs = LogIngestor(self.store, rules, threads=self.settings.ingest.threads)
        # While this process holds the file, `opsengine sql`/`query` read through this socket.
        self.channel = AdminChannel(self.store).start() if admin_channel else None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingest_logs(
        self,
        data: str | Path | Any,
        *,
        source: str | None = None,
        host: str | None = None,
    ) -> IngestResult:
        """Ingest a log file (plain or gzip; path) or lines (Arrow array, polars Series, list of str)."""
        if isinstance(data, str | Path):
            return self.logs.ingest_file(data, source=source, host=host)
        lines = as_lines(data)
        if not isinstance(lines, pa.Array | pa.ChunkedArray):
            lines = (
                pa.chunked_array(pa.array(lines))
                if not hasattr(lines, "__arrow_c_stream__")
                else pa.chunked_array(lines)
            )
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        if not pa.types.is_string(lines.type):
            lines = lines.cast(pa.string())
        result = IngestResult(source=source or "api")
        started = time.perf_counter()
        n, ev = self.logs.write_lines(lines, source=result.source, host=host, stages=result.stages)
        result.lines, result.events, result.seconds = n, ev, time.perf_counter() - started
        return result

    def ingest_metrics(self, samples: Any) -> int:
        """Append metric samples: a table with ts, host, name, labels (map), value. Returns rows."""
        table = samples if isinstance(samples, pa.Table) else pa.table(samples)
        missing = [c for c in METRIC_COLUMNS if c not in table.column_names]
        if missing:
            raise ValueError(f"metric samples: missing column(s) {', '.join(missing)}")
        with self.store.transaction() as cur:
            cur.register("batch_metrics", table.select(list(METRIC_COLUMNS)))
            cur.execute(
                "INSERT INTO metrics (ts, host, name, labels, value) SELECT ts, host, name, labels, value FROM batch_metrics"
            )
            cur.unregister("batch_metrics")
        return table.num_rows

    def maintenance(self) -> MaintenanceReport:
        return run_maintenance(self.store, self.settings.retention)

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self.store.query(sql, params)
