"""Starting and stopping the configured sources for ``opsengine run``.

``start_sources(engine, settings)`` starts, each in its own thread: the file tailer
(``[files]``), the syslog listener (``[syslog]``), the uptime probes (``[probes]``) and
the Prometheus scraper (``[[prometheus.target]]``), the host collector (``[host]``), the
configuration snapshots (``[[config.item]]``) and the inventory (``[inventory]``). A source that cannot start (port taken, no readable
file) is reported in ``RunningSources.problems`` and the others still run.

Beside them runs the escalation ticker (``engine.notify``): the wall clock that escalates
unacknowledged incidents and retries failed notifications. Without it a live engine would
send each first notice once and never escalate; replays and tests call ``tick(now)``.
And the rule clock (``engine.tick_rules``): rule time otherwise moves only with arriving
samples and events, so a host that stops reporting (``host_down``) or a burst of log events
that ends would be noticed only when other data moves time on. And the maintenance clock
(``engine.maintenance``, every ``[retention] interval_s``): roll-ups and retention, so a
long-running engine keeps its file bounded without a cron job. And the SLA clock
(``engine.tickets.sla_alerts``, every ``[tickets] sla_tick_s``): warnings and breaches of
ticket SLAs as alerts; and the mail intake (``[tickets] smtp_listen``, off by default).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opsengine.sources.background import PeriodicTask

if TYPE_CHECKING:
    from opsengine.config import Settings
    from opsengine.engine import Engine

log = logging.getLogger(__name__)

#: How often the escalation ticker looks for due steps and retries (new notices wake it).
ESCALATION_TICK_S = 5.0
#: How often rule time is moved on to the wall clock (metric rules, log thresholds).
RULE_TICK_S = 5.0


class RunningSource(Protocol):
    def stop(self) -> None: ...
    def status(self) -> dict[str, Any]: ...


@dataclass
class RunningSources:
    """The sources ``start_sources`` started; ``stop()`` ends them all (idempotent)."""

    sources: dict[str, RunningSource] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # source → why it did not start

    def status(self) -> dict[str, dict[str, Any]]:
        """Per source: its counters and state (for /health and /metrics)."""
        out: dict[str, dict[str, Any]] = {
            name: {"ok": False, "error": why} for name, why in self.problems.items()
        }
        for name, src in self.sources.items():
            out[name] = {"ok": True, **src.status()}
        return out

    def describe(self) -> list[str]:
        """One line per source saying where it reads from, for the start-up banner."""
        lines = []
        for name, src in self.sources.items():
            where = src.status().get("where", "")
            lines.append(f"{name}: {where}")
        for name, why in self.problems.items():
            lines.append(f"{name}: not started ({why})")
        return lines

    def stop(self) -> None:
        for name, src in list(self.sources.items()):
            try:
                src.stop()
            except Exception:
                log.exception("stopping source %s failed", name)
        self.sources.clear()


def start_sources(engine: Engine, settings: Settings | None = None) -> RunningSources:
    """Start every configured and enabled source against ``engine``; returns their handle.

    ``settings`` defaults to ``engine.settings``. Never raises for one source's fault:
    see ``RunningSources.problems``.
    """
    settings = settings or engine.settings
    running = RunningSources()
    starters = (
        ("files", _start_files),
        ("syslog", _start_syslog),
        ("probes", _start_probes),
        ("prometheus", _start_prometheus),
        ("host", _start_host),
        ("config_snapshots", _start_config_snapshots),
        ("inventory", _start_inventory),
        ("escalation", _start_escalation),
        ("rule_clock", _start_rule_clock),
        ("maintenance", _start_maintenance),
        ("compaction", _start_compaction),
        ("sla_clock", _start_sla_clock),
        ("smtp_intake", _start_smtp_intake),
    )
    for name, start in starters:
        try:
            src = start(engine, settings)
        except (OSError, ValueError) as e:
            running.problems[name] = str(e)
            log.warning("source %s not started: %s", name, e)
            continue
        if src is not None:
            running.sources[name] = src
    return running


def _start_files(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.files import FileTailer, default_paths

    cfg = settings.files
    if not cfg.enabled:
        return None
    paths = cfg.paths or default_paths()
    if not paths:
        return None
    tailer = FileTailer(
        engine.logs,
        paths,
        multiline_start=cfg.multiline_start or None,
        poll_ms=cfg.poll_ms,
        read_from=cfg.read_from,
        fingerprint_lines=cfg.fingerprint_lines,
    )
    return tailer.start()


def _start_syslog(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.syslog import SyslogReceiver

    cfg = settings.syslog
    if not cfg.enabled:
        return None
    return SyslogReceiver.from_settings(engine.logs, cfg).start()


def _start_probes(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.probes import Prober, checks_from_settings

    checks = checks_from_settings(settings.probes)
    if not checks:
        return None
    return Prober(engine.store, engine.alerts, checks).start()


def _start_prometheus(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.prometheus import PrometheusScraper, targets_from_settings

    targets = targets_from_settings(settings.prometheus)
    if not targets:
        return None
    return PrometheusScraper(
        engine.ingest_metrics, targets, max_body_bytes=settings.prometheus.max_body_bytes
    ).start()


def _start_host(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.host import HostCollector

    cfg = settings.host
    if not cfg.enabled:
        return None
    return HostCollector(
        engine.ingest_metrics, interval_s=cfg.interval_s, top_processes=cfg.top_processes
    ).start()


def _start_config_snapshots(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.config_snapshots import ConfigSnapshotter

    cfg = settings.config
    if not cfg.enabled or cfg.interval_s <= 0:
        return None
    return ConfigSnapshotter(engine.config, float(cfg.interval_s)).start()


def _start_inventory(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.sources.inventory import InventoryCollector

    cfg = settings.inventory
    if not cfg.enabled or cfg.interval_s <= 0:
        return None
    return InventoryCollector(engine.inventory, float(cfg.interval_s)).start()


def _start_escalation(engine: Engine, settings: Settings) -> RunningSource | None:
    notify = getattr(engine, "notify", None)
    if notify is None:
        return None
    return notify.start_ticker(ESCALATION_TICK_S)


def _start_rule_clock(engine: Engine, settings: Settings) -> RunningSource | None:
    return RuleClock(engine, RULE_TICK_S).start()


def _start_maintenance(engine: Engine, settings: Settings) -> RunningSource | None:
    interval = settings.retention.interval_s
    if interval <= 0:
        return None
    return MaintenanceClock(engine, float(interval)).start()


def _start_compaction(engine: Engine, settings: Settings) -> RunningSource | None:
    interval = settings.store.compact_interval_s
    if interval <= 0:
        return None
    return CompactionClock(engine, float(interval)).start()


def _start_sla_clock(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.tickets.sla_alerts import SlaClock

    tickets = getattr(engine, "tickets", None)
    if tickets is None or settings.tickets.sla_tick_s <= 0:
        return None
    return SlaClock(tickets.sla_alerts, float(settings.tickets.sla_tick_s)).start()


def _start_smtp_intake(engine: Engine, settings: Settings) -> RunningSource | None:
    from opsengine.tickets.mail_intake import MailIntake

    if not settings.tickets.smtp_listen:
        return None
    return MailIntake.from_settings(engine.tickets, settings.tickets).start()


class MaintenanceClock(PeriodicTask):
    """Runs ``engine.maintenance()`` a minute after start (or after ``interval_s`` if that
    is shorter), then every ``interval_s``."""

    thread_name = "opsengine-maintenance"

    def __init__(self, engine: Engine, interval_s: float) -> None:
        super().__init__(interval_s, first_wait_s=min(60.0, interval_s))
        self.engine = engine
        self.last_report: dict[str, Any] = {}

    def run_once(self) -> None:
        report = self.engine.maintenance()
        self.last_report = {
            "rolled_up_minutes": report.rolled_up_minutes,
            "deleted": report.deleted,
        }
        log.info("maintenance: %s", self.last_report)

    def status(self) -> dict[str, Any]:
        return {**super().status(), "last": self.last_report}


class CompactionClock(PeriodicTask):
    """Merges the small history segments of streaming sources every ``interval_s``."""

    thread_name = "opsengine-compaction"

    def __init__(self, engine: Engine, interval_s: float) -> None:
        super().__init__(interval_s)
        self.engine = engine
        self.merged = 0

    def run_once(self) -> None:
        self.merged += self.engine.compact_history().merged_files

    def status(self) -> dict[str, Any]:
        return {**super().status(), "merged_files": self.merged}


class RuleClock(PeriodicTask):
    """Calls ``engine.tick_rules()`` every ``interval_s``."""

    thread_name = "opsengine-rule-clock"

    def __init__(self, engine: Engine, interval_s: float) -> None:
        super().__init__(interval_s)
        self.engine = engine
        self.changes = 0

    def run_once(self) -> None:
        self.changes += self.engine.tick_rules()

    def status(self) -> dict[str, Any]:
        return {**super().status(), "ticks": self.runs, "alert_changes": self.changes}
