"""Settings: defaults that just work, an ``opsengine.toml`` file, and ``OPSENGINE_*`` variables.

Precedence: defaults < the TOML file < environment variables
(``OPSENGINE_<SECTION>_<KEY>``, e.g. ``OPSENGINE_RETENTION_LOGS_DAYS=7``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the file or variable and the key."""


@dataclass
class RetentionSettings:
    """Days each history table keeps (0 = forever)."""

    logs_days: int = 30
    events_days: int = 90
    metrics_days: int = 15
    metrics_1m_days: int = 400
    probes_days: int = 90
    # Resolved alert instances (`alerts` rows whose resolved_at is older).
    alerts_days: int = 400
    # Resolved or closed incidents no problem links, with their timeline and notifications.
    incidents_days: int = 400
    audit_days: int = 365
    # `opsengine run` rolls up and applies retention this often (seconds; 0 = never).
    interval_s: int = 3600


@dataclass
class StoreSettings:
    # DuckDB's buffer pool; beyond it DuckDB spills to disk. Bounds the engine's memory.
    memory_limit: str = "512MB"
    # History segments (logs, events) live under <data_dir>/history; "" = beside the
    # database file (ops.duckdb → ops.data).
    data_dir: str = ""
    # `opsengine run` merges small history segments (streaming sources) this often; 0 = never.
    compact_interval_s: int = 60


@dataclass
class IngestSettings:
    batch_bytes: int = 4 << 20
    threads: int = 0  # 0 = all cores
    # Samples dated further ahead of the engine's clock are rejected; log lines get the
    # receive time instead (future_times.py): one bad clock must not stop the rules.
    max_future_skew: str = "10m"


@dataclass
class TemplateSettings:
    """Log-template mining at ingest (``logs.template_id``, ``log_templates``)."""

    enabled: bool = True
    # Lines mined before a new shape counts as "new" (``kind: new_template`` rules).
    warmup_lines: int = 1_000


@dataclass
class FilesSettings:
    """Log files followed by ``opsengine run`` (sources/files.py)."""

    enabled: bool = True
    paths: list[str] = field(default_factory=list)  # paths or globs; empty = system logs
    multiline_start: str = ""  # regex; a line not matching it continues the record before
    read_from: str = "beginning"  # where a file never seen before is read from: beginning|end
    poll_ms: int = 250
    fingerprint_lines: int = 1  # lines naming a file; more for logs with a fixed header


@dataclass
class SyslogSettings:
    """The syslog listener (sources/syslog.py); ``OPSENGINE_SYSLOG_LISTEN=host:port``."""

    enabled: bool = True
    listen: str = "127.0.0.1:5514"
    udp: bool = True
    tcp: bool = True
    queue_messages: int = 100_000  # bound of the receive buffer; UDP beyond it is dropped
    batch_messages: int = 10_000
    flush_ms: int = 1_000
    # TCP: a connection silent this long is closed (senders reconnect); one address holds
    # at most this many connections, so idle or hostile peers cannot lock others out.
    tcp_idle_timeout_s: int = 300
    tcp_connections_per_address: int = 32


@dataclass
class ProbeSettings:
    """Uptime probes (sources/probes.py): ``[[probes.check]]`` tables with name and url."""

    check: list[dict] = field(default_factory=list)
    interval_s: int = 30  # default for checks that give none
    timeout_s: int = 5


@dataclass
class PrometheusSettings:
    """Prometheus endpoints to scrape (sources/prometheus.py): ``[[prometheus.target]]``
    tables with job and url (and optional interval_s, timeout_s, labels)."""

    target: list[dict] = field(default_factory=list)
    interval_s: int = 15  # default for targets that give none
    timeout_s: int = 10
    max_body_bytes: int = 32 << 20


@dataclass
class HostSettings:
    """The host metrics collector (sources/host.py)."""

    enabled: bool = True
    interval_s: int = 10
    top_processes: int = 5


@dataclass
class ApiSettings:
    """The HTTP API served by ``opsengine run`` (python/opsengine/api/)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    server: str = "granian"  # granian | uvicorn (both run in-process, one worker)
    max_body_bytes: int = 32 << 20  # larger request bodies get 413
    rate_limit: int = 200  # requests per second per token (a burst of 2x is allowed); 0 = off
    ingest_queue: int = 64  # ingest batches waiting or running; beyond it 503 + Retry-After
    ingest_queue_bytes: int = 128 << 20  # and at most this many body bytes held by them
    ingest_workers: int = 2
    sql_row_limit: int = 10_000  # rows returned by ad-hoc SQL and named queries


@dataclass
class MetricRuleSettings:
    """Metric-rule evaluation (metrics/rules.py): steps of event time, as in Prometheus."""

    interval: str = "1m"  # evaluation step; `for:` and alert times are multiples of it
    lookback: str = "5m"  # an instant selector reads a series' newest sample this far back


@dataclass
class IncidentSettings:
    """Alerts → incidents, notifications and problems (incidents/, notify/, problems/)."""

    group_window: str = "5m"  # alerts for one service (or host) this close join the open incident
    flap_window: str = "1h"  # an alert firing again this soon after resolving reopens the incident
    flap_threshold: int = 3  # reopenings within flap_window that mark it flapping (notices held)
    host_down_rules: list[str] = field(
        default_factory=lambda: ["host_down", "HostDown", "InstanceDown", "probe_down"]
    )  # an open incident of these rules mutes (inhibits) the same host's other incidents
    recurrence_count: int = 3  # this many incidents of one fingerprint …
    recurrence_days: int = 7  # … within this many days propose a problem
    notify_max_attempts: int = 5  # a notification is given up (failed) after this many tries
    notify_backoff: str = "30s"  # wait before the 2nd try; doubles each try, at most 1h
    notify_timeout_s: int = 10  # per webhook request / SMTP session
    # `opsengine run` holds every incident in memory (~1.2 KB each) so lists cost no query
    memory_index: bool = True


@dataclass
class ConfigMgmtSettings:
    """Tracked configuration (config_mgmt/): ``[[config.item]]`` tables with name, paths
    (or path), env, and optional vary (keys expected to differ across envs), host, severity."""

    item: list[dict] = field(default_factory=list)
    enabled: bool = True  # snapshot the items every interval_s in `opsengine run`
    interval_s: int = 60
    max_file_bytes: int = 10 << 20  # larger files are recorded as refused, not read


@dataclass
class InventorySettings:
    """Software and hardware inventory (config_mgmt/inventory.py) and version policies."""

    enabled: bool = True  # collect every interval_s in `opsengine run`
    interval_s: int = 3600
    dpkg_status: str = "/var/lib/dpkg/status"
    python_paths: list[str] = field(default_factory=list)  # site-packages dirs; empty = sys.path
    policies: list[str] = field(default_factory=list)  # e.g. "openssl >= 3.0.13"
    policy_severity: str = "high"  # of version_policy_violation alerts


@dataclass
class SecuritySettings:
    """Security findings (security/): the vulnerability audit's advisories."""

    osv_dir: str = ""  # a directory of OSV JSON advisories (one file each); "" = no audit
    incident_severities: list[str] = field(default_factory=lambda: ["high", "critical"])
    sshd_config: str = "/etc/ssh/sshd_config"  # the hardening checks read it (and its Includes)
    tracked_paths: list[str] = field(default_factory=list)  # files/dirs/globs checked for modes


@dataclass
class TicketSettings:
    """The service desk (tickets/, kb/): SLA alerts and the e-mail intake."""

    default_queue: str = "support"  # tickets that name no queue
    default_sla_policy: str = ""  # for queues that name no policy ("" = no SLA)
    sla_warning_percent: int = 75  # of a target's business time: the warning alert
    sla_tick_s: int = 30  # `opsengine run` checks the clocks this often
    close_solved_after_days: int = 7  # solved tickets close by themselves after this (0 = never)
    smtp_listen: str = ""  # host:port of the mail intake, e.g. 127.0.0.1:2525 ("" = off)
    smtp_max_bytes: int = 10 << 20  # larger messages are refused (552)
    # The public reply a ticket gets when its linked incident resolves.
    incident_reply: str = (
        "The incident behind your request (#{incident}: {title}) has been resolved. "
        "We are marking this ticket solved; reply to reopen it if the problem persists."
    )


@dataclass
class Settings:
    db: str = "opsengine.duckdb"
    rules: list[str] = field(default_factory=list)  # empty = the default pack
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    templates: TemplateSettings = field(default_factory=TemplateSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    syslog: SyslogSettings = field(default_factory=SyslogSettings)
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    host: HostSettings = field(default_factory=HostSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    incidents: IncidentSettings = field(default_factory=IncidentSettings)
    metric_rules: MetricRuleSettings = field(default_factory=MetricRuleSettings)
    config: ConfigMgmtSettings = field(default_factory=ConfigMgmtSettings)
    inventory: InventorySettings = field(default_factory=InventorySettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)


def _coerce(value: Any, current: Any, where: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if isinstance(current, list):
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [dict(v) for v in value]  # an array of tables, e.g. [[probes.check]]
        if isinstance(value, list):
            return [str(v) for v in value]
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return str(value)


def _apply(target: Any, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(target)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting '{key}' (known: {', '.join(sorted(known))})"
            )
        current = getattr(target, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table [{key}]")
            _apply(current, value, f"{where}.{key}")
        else:
            setattr(target, key, _coerce(value, current, f"{where}.{key}"))


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from defaults, then ``path`` (or ./opsengine.toml if present), then the environment."""
    settings = Settings()
    env = os.environ if env is None else env
    file = Path(path) if path else Path(env.get("OPSENGINE_CONFIG", "opsengine.toml"))
    if path or file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{file}: cannot read: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{file}: {e}") from None
        _apply(settings, data, str(file))
    for name, value in env.items():
        if not name.startswith("OPSENGINE_") or name in ("OPSENGINE_CONFIG", "OPSENGINE_LOGHUB"):
            continue
        parts = name[len("OPSENGINE_") :].lower()
        target: Any = settings
        for f in fields(settings):
            sub = getattr(settings, f.name)
            if is_dataclass(sub) and parts.startswith(f.name + "_"):
                target, parts = sub, parts[len(f.name) + 1 :]
                break
        if parts not in {f.name for f in fields(target)}:
            continue  # variables of other tools or later versions
        setattr(target, parts, _coerce(value, getattr(target, parts), name))
    return settings
