"""The embedded engine: one store, one rule set, and the ingestion paths wired to them.

Usable as a context manager::

    with Engine("ops.duckdb") as engine:
        engine.ingest_logs("/var/log/auth.log")
        engine.incidents.list(state="open")
        engine.named_query("mttr", **{"from": "-30d"})  # a pyarrow.Table
        engine.query("SELECT rule, count(*) FROM events GROUP BY ALL")

The CLI, the API and the dashboard all go through this object: each domain's service is a
typed attribute (``engine.incidents``, ``engine.problems``, ``engine.notify``, …).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from opsengine.alerts import AlertLog
from opsengine.alerts.log_thresholds import LogThresholdAlerts
from opsengine.config import ConfigError, Settings, load_settings
from opsengine.config_mgmt.inventory_service import InventoryService
from opsengine.config_mgmt.service import ConfigService
from opsengine.config_mgmt.wiring import attach_config_domain
from opsengine.future_times import FutureTimes
from opsengine.incidents.service import IncidentService
from opsengine.incidents.wiring import incident_domains
from opsengine.ingest import IngestResult, LogIngestor
from opsengine.ingest.log_templates import LogTemplates
from opsengine.ingest.search import EventSearch, LogSearch
from opsengine.metrics.pipeline import MetricPipeline
from opsengine.metrics.search import MetricSearch
from opsengine.notify.service import NotificationService
from opsengine.problems.service import ProblemService
from opsengine.rules import RuleSet, as_lines
from opsengine.security.wiring import attach_security
from opsengine.store import Store
from opsengine.store.admin_channel import AdminChannel
from opsengine.store.compaction import CompactionReport, compact
from opsengine.store.maintenance import MaintenanceReport, run_maintenance
from opsengine.store.named_queries import run_query
from opsengine.tickets.wiring import attach_service_desk

if TYPE_CHECKING:
    from opsengine.config_mgmt.inventory_service import InventoryService
    from opsengine.config_mgmt.service import ConfigService
    from opsengine.kb.service import KnowledgeBase
    from opsengine.security.service import SecurityService
    from opsengine.tickets.service import TicketService

log = logging.getLogger(__name__)


class Engine:
    """opsengine embedded in a Python process: one store, the rules, and every domain's
    service as an attribute."""

    settings: Settings
    store: Store
    rules: RuleSet
    #: Log lines in: files, streams, Arrow arrays (the threshold poll is ``ingest_logs``'s).
    logs: LogIngestor
    #: Alert changes from every producer; incidents subscribe.
    alerts: AlertLog
    incidents: IncidentService
    problems: ProblemService
    notify: NotificationService
    #: Tracked configuration and drift; the inventory and its policies.
    config: ConfigService
    inventory: InventoryService
    #: The service desk: tickets with SLAs, and the knowledge base.
    tickets: TicketService
    kb: KnowledgeBase
    #: Security findings, the vulnerability audit (security/service.py).
    security: SecurityService
    #: Samples → metrics table → metric rules (event time) → alerts.
    metrics: MetricPipeline
    #: Events of ``threshold:`` log rules → windows in the core → alerts.
    log_thresholds: LogThresholdAlerts
    log_search: LogSearch
    event_search: EventSearch
    metric_search: MetricSearch
    #: While this process holds the file, ``opsengine sql``/``query`` read through it.
    channel: AdminChannel | None

    config: ConfigService  # tracked configuration, drift, audit (config_mgmt/service.py)
    inventory: InventoryService  # software and hardware per host, version policies

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
            db_path or self.settings.db,
            memory_limit=self.settings.store.memory_limit,
            data_dir=self.settings.store.data_dir or None,
        )
        if rules is None:
            rules = (
                RuleSet.from_yaml(self.settings.rules) if self.settings.rules else RuleSet.default()
            )
        self.rules = rules
        try:
            # Times from outside are judged against this engine's clock (future_times.py).
            self.future = FutureTimes(self.settings.ingest.max_future_skew)
        except ValueError as e:
            raise ConfigError(f"ingest.max_future_skew: {e}") from None
        templates = None
        if self.settings.templates.enabled:
            templates = LogTemplates(
                self.store,
                rules.new_template_rules,
                {"warmup_lines": self.settings.templates.warmup_lines},
            )
        self.logs = LogIngestor(
            self.store,
            rules,
            threads=self.settings.ingest.threads,
            templates=templates,
            block_bytes=self.settings.ingest.batch_bytes,
            future=self.future,
        )
        # Every producer of alerts publishes here; incidents and notifications subscribe.
        self.alerts = AlertLog(self.store)
        # Incidents, problems and notifications, subscribed to self.alerts.
        self.incidents, self.problems, self.notify = incident_domains(
            self.store, self.alerts, self.settings.incidents
        )
        # engine.config (tracked configuration, drift) and engine.inventory; alerts → above.
        attach_config_domain(self)
        # engine.tickets and engine.kb; solves tickets whose incident resolves.
        attach_service_desk(self)
        # engine.security: findings; high/critical ones open incidents through self.alerts.
        attach_security(self)
        # Samples → metrics table → metric rules (event time) → self.alerts; state survives restarts.
        self.metrics = MetricPipeline.from_settings(
            self.store, self.alerts, rules, self.settings.metric_rules, self.future
        )
        # Events of `threshold:` log rules → windows in the core → self.alerts (source log).
        self.log_thresholds = LogThresholdAlerts(self.store, self.alerts, rules)
        self.log_thresholds.poll()  # events stored before a restart and not read yet
        # Read services for people and the API: they hold the SQL of the searches.
        self.log_search = LogSearch(self.store)
        self.event_search = EventSearch(self.store)
        self.metric_search = MetricSearch(self.store)
        # While this process holds the file, `opsengine sql`/`query` read through this socket.
        self.channel = AdminChannel(self.store).start() if admin_channel else None

    def close(self) -> None:
        if self.logs.templates is not None:
            # Keep what the miner generalised since its last snapshot.
            try:
                with self.store.transaction() as cur:
                    self.logs.templates.snapshot(cur, datetime.now(UTC))
            except Exception:  # the last snapshot (at most a minute old) still holds the ids
                log.exception("could not save the template miner's state on close")
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
        progress: Callable[[IngestResult], None] | None = None,
    ) -> IngestResult:
        """Ingest a log file (plain or gzip; path), a binary stream (e.g. ``sys.stdin.buffer``;
        ``source`` names it, default ``stdin``) or lines (Arrow array, polars Series, list of
        str), then let the threshold rules read the events it stored. ``progress`` is called
        as a file or stream is read."""
        if isinstance(data, str | Path):
            result = self.logs.ingest_file(data, source=source, host=host, progress=progress)
            self.log_thresholds.poll()
            return result
        if hasattr(data, "read"):
            result = self.logs.ingest_stream(
                data, source=source or "stdin", host=host, progress=progress
            )
            self.log_thresholds.poll()
            return result
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
        self.log_thresholds.poll()
        return result

    def ingest_metrics(self, samples: Any) -> int:
        """Store metric samples (ts, host, name, labels map, value; host and labels optional)
        and evaluate the metric rules over them in event time. Returns rows stored."""
        return self.metrics.ingest(samples)

    def tick_rules(self, now: datetime | None = None) -> int:
        """Let rule time follow the wall clock while sources are quiet; returns alert changes.

        The live engine calls this every few seconds: a host that stops reporting (metric
        rules such as ``host_down``) and a burst that ends (log thresholds) are noticed only
        when time moves on. It stays one evaluation step behind ``now`` so that samples
        arriving up to a step late still count, as they would in a replay.
        """
        now = now or datetime.now(UTC)
        behind = now - timedelta(seconds=self.metrics.step)
        changes = self.log_thresholds.poll() + self.log_thresholds.advance_to(behind)
        return changes + self.metrics.advance_to(behind)

    def reload_rules(self, rules: RuleSet) -> None:
        """Match ``rules`` from the next batch on; a batch already running ends with the old set."""
        # In place: the running sources (file tailer, syslog) hold this same ingestor.
        self.logs.reload(rules)
        self.metrics.reload_rules(rules)
        self.log_thresholds = LogThresholdAlerts(self.store, self.alerts, rules)
        self.rules = rules

    def compact_history(self) -> CompactionReport:
        """Merge small ``logs``/``events`` segments (streaming sources) into larger ones."""
        return compact(self.store)

    def maintenance(self, now: datetime | None = None) -> MaintenanceReport:
        """Roll up metrics and apply retention (``[retention]``); ``now`` for replays."""
        return run_maintenance(
            self.store,
            self.settings.retention,
            now,
            forget_series=self.metrics.series.forget,
            prune_incidents=self.incidents.prune,
        )

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        """Run SQL on the store (``?`` or ``$name`` parameters bound); a ``pyarrow.Table``,
        which polars (``pl.from_arrow``) and DuckDB read without copying."""
        return self.store.query(sql, params)

    def named_query(self, name: str, **params: Any) -> pa.Table:
        """Run a named query (``opsengine query --list``: ``mttr``, ``top_rules``, …) with its
        parameters (strings such as ``-7d`` are converted by type); a ``pyarrow.Table``."""
        return run_query(self.store, name, params)
