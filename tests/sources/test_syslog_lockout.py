"""Syslog over TCP cannot be locked out: idle connections are closed after a timeout, one
address holds a bounded number of connections, refusals are counted, and a sender from
another address is served all along (real sockets on 127.0.0.1/8)."""

from __future__ import annotations

import socket

import pytest
from opsengine.engine import Engine
from opsengine.sources.syslog import SyslogReceiver

WAIT_S = 30  # upper bound for loopback; each wait ends as soon as the event happens


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


def connect(port: int, source: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))  # the whole of 127.0.0.0/8 is loopback: a second "address"
    s.settimeout(WAIT_S)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_idle_connections_from_one_address_cannot_lock_out_other_senders(engine):
    receiver = SyslogReceiver(
        engine.logs, "127.0.0.1:0", udp=False, flush_ms=50, connections_per_address=4,
        idle_timeout_s=3600,
    ).start()  # fmt: skip
    idle = [connect(receiver.port, "127.0.0.2") for _ in range(4)]
    try:
        extra = connect(receiver.port, "127.0.0.2")
        assert closed_by_server(extra)  # the fifth from that address is refused
        extra.close()
        with connect(receiver.port, "127.0.0.1") as sender:
            sender.sendall(b"<13>1 2026-03-02T10:00:00Z web1 app - - - still served\n")
        assert receiver.wait_stored(1, WAIT_S)
        status = receiver.status()
        assert status["tcp_connections_refused"] == {"too many connections from one address": 1}
        assert status["tcp_connections"] >= 4
    finally:
        for s in idle:
            s.close()
        receiver.stop()
    assert engine.query("SELECT message FROM logs").column(0).to_pylist() == ["still served"]


def test_a_silent_connection_is_closed_after_the_idle_timeout_and_its_slot_freed(engine):
    receiver = SyslogReceiver(
        engine.logs, "127.0.0.1:0", udp=False, flush_ms=50, connections_per_address=1,
        idle_timeout_s=1,
    ).start()  # fmt: skip
    try:
        with connect(receiver.port, "127.0.0.3") as silent:
            silent.sendall(b"<13>partial line without its newline")
            assert closed_by_server(silent)  # closed by the server, not by this test
        assert receiver.status()["tcp_idle_closed"] == 1
        # Its partial last frame was kept; the address may connect again.
        assert receiver.wait_stored(1, WAIT_S)
        with connect(receiver.port, "127.0.0.3") as again:
            again.sendall(b"<13>back again\n")
        assert receiver.wait_stored(2, WAIT_S)
        assert receiver.status()["tcp_connections_refused"] == {}
    finally:
        receiver.stop()


def test_the_limits_come_from_the_settings_and_show_in_health(tmp_path):
    from opsengine.run import sources_health, start_sources

    from tests.support.api_helpers import api_settings

    settings = api_settings()
    settings.syslog.listen = "127.0.0.1:0"
    settings.syslog.tcp_connections_per_address = 1
    settings.host.enabled = False
    with Engine(tmp_path / "store.duckdb", settings, admin_channel=False) as engine:
        running, problem = start_sources(engine, settings)
        assert problem is None and running is not None
        try:
            syslog = next(s for s in running.sources.values() if isinstance(s, SyslogReceiver))
            assert syslog.connections_per_address == 1
            first = connect(syslog.port, "127.0.0.4")
            second = connect(syslog.port, "127.0.0.4")
            assert closed_by_server(second)
            first.close()
            second.close()
            health = sources_health(running)()
            shown = next(s for s in health["sources"].values() if "tcp_connections_refused" in s)
            assert shown["tcp_connections_refused"] == {"too many connections from one address": 1}
        finally:
            running.stop()
