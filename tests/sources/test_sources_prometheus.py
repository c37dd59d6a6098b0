"""Scraping Prometheus endpoints: a real HTTP exporter on 127.0.0.1, samples stored with the
target's job/instance, `up` like Prometheus, and the default pack's scrape_target_down
raised from scrape results in event time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opsengine.config import PrometheusSettings
from opsengine.engine import Engine
from opsengine.sources.prometheus import PrometheusScraper, targets_from_settings

from tests.support.sources_net import closed_port

EXPOSITION = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",job="app"} 1027
http_requests_total{code="500"} 3
# TYPE queue_depth gauge
queue_depth 7
"""
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Exporter:
    """A /metrics endpoint whose body and status the test sets."""

    def __init__(self) -> None:
        self.body, self.status = EXPOSITION, 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter():
    e = Exporter()
    yield e
    e.close()


def series(engine: Engine) -> dict[tuple, float]:
    rows = engine.query("SELECT name, labels, value FROM metrics ORDER BY ts").to_pylist()
    return {(r["name"], tuple(sorted(dict(r["labels"] or {}).items()))): r["value"] for r in rows}


def test_a_scrape_stores_samples_with_the_targets_labels_and_up(tmp_path, exporter):
    (target,) = targets_from_settings(
        PrometheusSettings(target=[{"job": "app", "url": exporter.url}])
    )
    instance = exporter.url.split("/")[2]
    with Engine(tmp_path / "s.duckdb", admin_channel=False) as engine:
        scraper = PrometheusScraper(engine.ingest_metrics, [target])
        scraper.scrape_and_store(target, T0)
        got = series(engine)
    job = ("job", "app")
    inst = ("instance", instance)
    assert got[("http_requests_total", tuple(sorted([("code", "200"), inst, job])))] == 1027
    assert got[("http_requests_total", tuple(sorted([("code", "500"), inst, job])))] == 3
    assert got[("queue_depth", tuple(sorted([inst, job])))] == 7
    assert got[("up", tuple(sorted([inst, job])))] == 1.0
    assert got[("scrape_samples_scraped", tuple(sorted([inst, job])))] == 3
    assert scraper.status()["targets"][f"app/{instance}"]["up"] is True


def test_a_scraped_job_label_that_differs_is_kept_as_exported_job(tmp_path, exporter):
    exporter.body = b'jobs_done{job="batch"} 5\n'
    (target,) = targets_from_settings(
        PrometheusSettings(target=[{"job": "app", "url": exporter.url}])
    )
    with Engine(tmp_path / "s.duckdb", admin_channel=False) as engine:
        PrometheusScraper(engine.ingest_metrics, [target]).scrape_and_store(target, T0)
        (labels,) = (
            engine.query("SELECT labels FROM metrics WHERE name = 'jobs_done'")
            .column("labels")
            .to_pylist()
        )
    assert dict(labels)["job"] == "app" and dict(labels)["exported_job"] == "batch"


@pytest.mark.parametrize(
    "fault, error",
    [
        ("refused", "refused"),
        ("status", "HTTP 503"),
        ("malformed", "malformed exposition"),
        ("too_big", "body larger than"),
    ],
)
def test_a_failing_target_is_down_with_its_error_and_nothing_half_stored(
    tmp_path, exporter, fault, error
):
    url = exporter.url
    if fault == "refused":
        url = f"http://127.0.0.1:{closed_port()}/metrics"
    elif fault == "status":
        exporter.status = 503
    elif fault == "malformed":
        exporter.body = b"queue_depth 7\nbroken{ 1\n"
    (target,) = targets_from_settings(PrometheusSettings(target=[{"job": "app", "url": url}]))
    with Engine(tmp_path / "s.duckdb", admin_channel=False) as engine:
        scraper = PrometheusScraper(
            engine.ingest_metrics, [target], max_body_bytes=16 if fault == "too_big" else 1 << 20
        )
        scraper.scrape_and_store(target, T0)
        names = {name for name, _labels in series(engine)}
    assert names == {"up", "scrape_duration_seconds"}
    health = scraper.status()["targets"][f"app/{target.instance}"]
    assert health["up"] is False and error in health["last_error"], health


def test_a_target_down_for_two_minutes_raises_scrape_target_down(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/metrics"
    (target,) = targets_from_settings(
        PrometheusSettings(target=[{"job": "db", "url": url, "interval_s": 15}])
    )
    with Engine(tmp_path / "s.duckdb", admin_channel=False) as engine:
        scraper = PrometheusScraper(engine.ingest_metrics, [target])
        for i in range(16):  # 4 minutes of failed scrapes, 15 s apart, in event time
            scraper.scrape_and_store(target, T0 + timedelta(seconds=15 * i))
        firing = engine.alerts.current(state="firing").to_pylist()
    assert [(a["rule"], dict(a["labels"])["job"]) for a in firing] == [("scrape_target_down", "db")]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"url": "http://x:9100/metrics"}, "'job'"),
        ({"job": "a", "url": "ftp://x/metrics"}, "'url'"),
        ({"job": "a", "url": "http://x:1/m", "timeout_s": 30, "interval_s": 10}, "timeout_s"),
        ({"job": "a", "url": "http://x:1/m", "scheme": "https"}, "unknown key 'scheme'"),
    ],
)
def test_bad_target_settings_name_the_target_and_field(spec, message):
    with pytest.raises(ValueError, match=r"prometheus\.target\[0\]") as err:
        targets_from_settings(PrometheusSettings(target=[spec]))
    assert message in str(err.value)
