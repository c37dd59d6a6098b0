"""The host collector on this machine: one Arrow batch per tick into ``metrics``, with the
CPU, memory, disk, network and process series a dashboard and the default rules need."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from opsengine.engine import Engine
from opsengine.sources.host import HostCollector


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


def _loopback_traffic(nbytes: int) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    got = []

    def drain():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 16):
                got.append(len(data))

    t = threading.Thread(target=drain)
    t.start()
    with socket.create_connection(server.getsockname()) as c:
        c.sendall(b"x" * nbytes)
    t.join()
    server.close()
    assert sum(got) == nbytes


def test_two_ticks_store_host_metrics_with_rates_and_top_processes(engine):
    collector = HostCollector(engine.ingest_metrics, interval_s=10, top_processes=50)
    # Work between ticks that the second tick must see: CPU in this process, loopback bytes.
    deadline = time.thread_time() + 0.3
    while time.thread_time() < deadline:
        pass
    _loopback_traffic(4 << 20)
    assert collector.tick() > 0
    assert collector.status()["ticks"] == 1 and collector.status()["errors"] == 0

    def value(name: str, **labels) -> list[float]:
        rows = engine.query(
            "SELECT labels, value, host FROM metrics WHERE name = ?", [name]
        ).to_pylist()
        assert rows, f"no {name} stored"
        assert {r["host"] for r in rows} == {socket.gethostname()}
        return [r["value"] for r in rows if labels.items() <= dict(r["labels"]).items()]

    assert 0 <= value("cpu_usage_percent")[0] <= 100
    assert value("cpu_count") == [os.cpu_count()]
    assert len(value("cpu_core_usage_percent")) == os.cpu_count()
    assert value("load1")[0] >= 0 and value("load15")[0] >= 0
    assert 0 < value("memory_used_percent")[0] < 100
    assert 0 <= value("swap_used_percent")[0] <= 100
    # Counters the default pack's swap_storm rule takes the rate of.
    assert value("swap_in_bytes_total")[0] >= 0 and value("swap_out_bytes_total")[0] >= 0
    root = value("disk_used_percent", mount="/")
    assert len(root) == 1 and 0 < root[0] <= 100
    assert 0 < value("disk_inodes_used_percent", mount="/")[0] <= 100
    assert value("net_receive_bytes_per_second", interface="lo")[0] > 0
    assert len(value("net_errors_total", interface="lo")) == 2  # receive and transmit
    assert value("net_drops_total", interface="lo", direction="receive")[0] >= 0
    assert value("process_count")[0] > 1
    assert value("process_cpu_percent", pid=str(os.getpid()))[0] > 0
    assert len(value("process_memory_rss_bytes")) == min(50, value("process_count")[0])
    assert value("uptime_seconds")[0] > 0
    assert abs(value("boot_time_seconds")[0] + value("uptime_seconds")[0] - time.time()) < 60


def test_a_failing_tick_is_counted_and_the_collector_goes_on():
    def broken_store(table):
        raise RuntimeError("disk full")

    collector = HostCollector(broken_store)
    assert collector.tick() == 0
    assert collector.status()["errors"] == 1


def test_interval_below_a_second_is_refused():
    with pytest.raises(ValueError, match=r"host\.interval_s"):
        HostCollector(lambda t: None, interval_s=0.1)


def test_every_series_is_documented_with_its_labels():
    from opsengine.sources.host import HOST_METRICS

    collector = HostCollector(lambda t: None, top_processes=3)
    table = collector.collect()
    for name, labels in zip(
        table.column("name").to_pylist(), table.column("labels").to_pylist(), strict=True
    ):
        assert name in HOST_METRICS, f"{name} is not in HOST_METRICS"
        assert tuple(k for k, _ in labels) == HOST_METRICS[name][0], name
