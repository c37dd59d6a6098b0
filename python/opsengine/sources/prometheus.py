"""Scraping Prometheus ``/metrics`` endpoints: ``[[prometheus.target]]`` in opsengine.toml.

Each target is fetched every ``interval_s`` with a ``timeout_s``; its text exposition is
parsed in the core (``opsengine.metrics.formats.parse_prometheus``), every sample gets the
target's ``job`` and ``instance`` labels (a scraped label of the same name is kept as
``exported_job`` / ``exported_instance``, as Prometheus does without ``honor_labels``), and
the scrape's own series are added as Prometheus writes them: ``up`` (1 or 0),
``scrape_duration_seconds`` and ``scrape_samples_scraped``. A target that fails (refused,
timeout, non-200, a body over ``max_body_bytes``, a malformed exposition) gives ``up`` 0
and its error in ``status()``; nothing of a malformed body is stored. The default pack's
``scrape_target_down`` rule alerts on ``up == 0``.

Targets are scraped one after the other in one thread; a slow target delays the others by
at most its timeout.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from opsengine.metrics.formats import MetricFormatError, parse_prometheus
from opsengine.sources.background import BackgroundLoop

log = logging.getLogger(__name__)

MAX_TARGETS = 1_000
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
_LABELS = pa.map_(pa.string(), pa.string())


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    url: str
    interval_s: float = 15.0
    timeout_s: float = 10.0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def instance(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.instance

    @classmethod
    def from_dict(cls, spec: dict[str, Any], *, where: str) -> ScrapeTarget:
        known = {"job", "url", "interval_s", "timeout_s", "labels"}
        if unknown := sorted(set(spec) - known):
            raise ValueError(
                f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})"
            )
        job, url = spec.get("job"), spec.get("url")
        if not isinstance(job, str) or not job:
            raise ValueError(f"{where}: 'job' must be a non-empty string")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{where}: 'url' must be an http(s) URL such as http://host:9100/metrics"
            )
        try:
            interval, timeout = float(spec.get("interval_s", 15)), float(spec.get("timeout_s", 10))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: 'interval_s' and 'timeout_s' must be numbers") from None
        if not 1 <= interval <= 86_400 or not 0 < timeout <= interval:
            raise ValueError(
                f"{where}: need 1 <= interval_s <= 86400 and 0 < timeout_s <= interval_s"
            )
        labels = spec.get("labels", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError(f"{where}: 'labels' must be a table of strings")
        return cls(job, url, interval, timeout, dict(labels))


def targets_from_settings(cfg) -> list[ScrapeTarget]:
    """The ``[[prometheus.target]]`` tables, with ``[prometheus]`` interval/timeout defaults."""
    if len(cfg.target) > MAX_TARGETS:
        raise ValueError(f"prometheus.target: at most {MAX_TARGETS} targets, got {len(cfg.target)}")
    targets = []
    for i, spec in enumerate(cfg.target):
        where = f"prometheus.target[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: expected a table [[prometheus.target]], got {spec!r}")
        merged = {"interval_s": cfg.interval_s, "timeout_s": cfg.timeout_s, **spec}
        targets.append(ScrapeTarget.from_dict(merged, where=where))
    keys = [(t.job, t.instance) for t in targets]
    if dup := sorted({f"{j}/{i}" for j, i in keys if keys.count((j, i)) > 1}):
        raise ValueError(f"prometheus.target: duplicate job/instance {', '.join(dup)}")
    return targets


@dataclass
class TargetHealth:
    up: bool = False
    last_scrape: datetime | None = None
    last_error: str = ""
    scrapes: int = 0
    failures: int = 0
    samples: int = 0


class PrometheusScraper(BackgroundLoop):
    """Scrapes ``targets`` and hands each scrape's samples to ``ingest`` (engine.ingest_metrics)."""

    thread_name = "opsengine-prometheus"

    def __init__(
        self,
        ingest: Callable[[pa.Table], int],
        targets: list[ScrapeTarget],
        *,
        max_body_bytes: int = 32 << 20,
    ) -> None:
        super().__init__()
        self.ingest = ingest
        self.targets = list(targets)
        self.max_body_bytes = max_body_bytes
        self.health = {(t.job, t.instance): TargetHealth() for t in self.targets}
        self.store_errors = 0

    # -- one scrape --------------------------------------------------------
    def scrape(self, target: ScrapeTarget, now: datetime | None = None) -> pa.Table:
        """Fetch and parse one target; returns its samples plus up/scrape_* (never raises
        for the target's faults: they are ``up`` 0 and ``status()``'s last_error)."""
        now = now or datetime.now(UTC)
        health = self.health.setdefault((target.job, target.instance), TargetHealth())
        started = time.perf_counter()
        samples, error = None, ""
        try:
            body = self._fetch(target)
            samples = parse_prometheus(body, default_ts=now, host=target.host, source=target.url)
        except MetricFormatError as e:
            error = f"malformed exposition: {e}"
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            error = (
                "timeout" if isinstance(reason, TimeoutError) else str(reason) or type(e).__name__
            )
        duration = time.perf_counter() - started
        health.scrapes += 1
        health.last_scrape = now
        health.up = samples is not None
        if samples is None:
            health.failures += 1
            health.last_error = error
            log.warning("scrape %s (%s) failed: %s", target.url, target.job, error)
        else:
            health.last_error = ""
            health.samples = samples.num_rows
        own = {"up": 1.0 if samples is not None else 0.0, "scrape_duration_seconds": duration}
        if samples is not None:
            own["scrape_samples_scraped"] = float(samples.num_rows)
        parts = [self._own_series(target, now, own)]
        if samples is not None and samples.num_rows:
            parts.insert(0, self._with_target_labels(target, samples))
        return pa.concat_tables(parts, promote_options="permissive")

    def _fetch(self, target: ScrapeTarget) -> bytes:
        request = urllib.request.Request(target.url, headers={"Accept": ACCEPT})
        with urllib.request.urlopen(request, timeout=target.timeout_s) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = response.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise ValueError(f"body larger than {self.max_body_bytes} bytes")
        return body

    def _target_labels(self, target: ScrapeTarget) -> dict[str, str]:
        return {**target.labels, "job": target.job, "instance": target.instance}

    def _with_target_labels(self, target: ScrapeTarget, samples: pa.Table) -> pa.Table:
        extra = self._target_labels(target)
        rows = []
        for labels in samples.column("labels").to_pylist():
            merged = dict(labels or ())
            for k, v in extra.items():
                if k in merged and merged[k] != v:
                    merged[f"exported_{k}"] = merged[k]
                merged[k] = v
            rows.append(list(merged.items()))
        index = samples.schema.get_field_index("labels")
        return samples.set_column(index, "labels", pa.array(rows, _LABELS))

    def _own_series(self, target: ScrapeTarget, now: datetime, values: dict[str, float]):
        labels = list(self._target_labels(target).items())
        n = len(values)
        return pa.table(
            {
                "ts": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
                "host": [target.host] * n,
                "name": list(values),
                "labels": pa.array([labels] * n, _LABELS),
                "value": pa.array(list(values.values()), pa.float64()),
            }
        )

    def scrape_and_store(self, target: ScrapeTarget, now: datetime | None = None) -> None:
        table = self.scrape(target, now)
        try:
            self.ingest(table.select(["ts", "host", "name", "labels", "value"]))
        except Exception:
            self.store_errors += 1
            log.exception("storing the scrape of %s failed", target.url)

    # -- the loop ----------------------------------------------------------
    def _loop(self) -> None:
        due = {(t.job, t.instance): time.monotonic() for t in self.targets}
        while not self._stop.is_set():
            now = time.monotonic()
            for target in self.targets:
                key = (target.job, target.instance)
                if due[key] <= now and not self._stop.is_set():
                    self.scrape_and_store(target)
                    due[key] = max(due[key] + target.interval_s, time.monotonic())
            wait = min(due.values(), default=now + 60) - time.monotonic()
            self._stop.wait(max(0.05, wait))

    def status(self) -> dict[str, Any]:
        return {
            "where": f"{len(self.targets)} target(s)",
            "targets_up": sum(h.up for h in self.health.values()),
            "store_errors": self.store_errors,
            "targets": {
                f"{job}/{instance}": {
                    "up": h.up,
                    "scrapes": h.scrapes,
                    "failures": h.failures,
                    "samples": h.samples,
                    "last_error": h.last_error,
                }
                for (job, instance), h in self.health.items()
            },
        }
