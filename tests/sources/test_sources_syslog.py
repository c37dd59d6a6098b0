"""The syslog listener with real clients: util-linux ``logger`` over UDP and TCP (newline and
octet-counting framing, RFC 3164 and RFC 5424) and a Python client sending 100,000
messages; UDP overload is dropped and counted."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest
from opsengine.config import load_settings
from opsengine.engine import Engine
from opsengine.sources.syslog import FrameDecoder, FramingError, SyslogReceiver, parse_listen

needs_logger = pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger absent")
WAIT_S = 30  # upper bound for arrival over loopback; the test ends as soon as they arrive


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


@pytest.fixture
def receiver(engine):
    r = SyslogReceiver(engine.logs, "127.0.0.1:0", flush_ms=50).start()
    yield r
    r.stop()


def _logger(port: int, *args: str) -> None:
    cmd = ["logger", "-n", "127.0.0.1", "-P", str(port), "-t", "payments", "--id=4242", *args]
    subprocess.run(cmd, check=True, timeout=10)


@needs_logger
@pytest.mark.parametrize(
    ("transport", "protocol", "level"),
    [
        ("--udp", "--rfc3164", "error"),
        ("--udp", "--rfc5424", "warning"),
        ("--tcp", "--rfc3164", "notice"),
        ("--tcp", "--rfc5424", "critical"),
    ],
)
def test_logger_messages_arrive_parsed(engine, receiver, transport, protocol, level):
    prio = {"error": "user.err", "warning": "user.warning", "notice": "user.notice"}
    prio["critical"] = "user.crit"
    text = f"card declined for order 981 via {transport[2:]} {protocol[2:]}"
    _logger(receiver.port, transport, protocol, "-p", prio[level], text)
    assert receiver.wait_stored(1, WAIT_S)
    row = engine.query("SELECT host, app, pid, level, message, source FROM logs").to_pylist()
    hostname = socket.gethostname()
    assert len(row) == 1
    assert row[0]["host"] in (hostname, hostname.split(".")[0])
    assert row[0] | {"host": None} == {
        "host": None,
        "app": "payments",
        "pid": "4242",
        "level": level,
        "message": text,
        "source": "syslog",
    }


@needs_logger
def test_logger_octet_counting_over_tcp(engine, receiver):
    lines = [f"line {i} with  spaces" for i in range(3)]
    proc = subprocess.run(
        ["logger", "-n", "127.0.0.1", "-P", str(receiver.port), "--tcp", "--octet-count",
         "--rfc5424", "-t", "batch", "-p", "daemon.info"],
        input="\n".join(lines) + "\n", text=True, timeout=10, check=True,
    )  # fmt: skip
    assert proc.returncode == 0
    assert receiver.wait_stored(3, WAIT_S)
    got = engine.query("SELECT app, level, message FROM logs ORDER BY id").to_pylist()
    assert got == [{"app": "batch", "level": "info", "message": m} for m in lines]


def test_100k_messages_over_tcp_arrive_complete(engine, receiver):
    n = 100_000
    payload = bytearray()
    for i in range(n):
        msg = f"<14>1 2026-12-01T10:00:00Z web3 api {i % 500} - - request {i} served".encode()
        # Half octet-counted, half newline-framed, on the same connection.
        payload += b"%d %s" % (len(msg), msg) if i % 2 else msg + b"\n"
    with socket.create_connection(("127.0.0.1", receiver.port)) as s:
        s.sendall(payload)
    assert receiver.wait_stored(n, WAIT_S * 4), receiver.status()
    count, distinct, hosts = (
        engine.query(
            "SELECT count(*) AS c, count(DISTINCT message) AS d, list(DISTINCT host) AS h FROM logs"
        )
        .to_pylist()[0]
        .values()
    )
    assert (count, distinct, hosts) == (n, n, ["web3"])
    assert receiver.status()["dropped_udp"] == 0


def test_udp_overload_is_dropped_and_counted(engine):
    # A buffer of 10 messages flushed only once a second: a burst must overflow it.
    r = SyslogReceiver(
        engine.logs, "127.0.0.1:0", tcp=False, queue_messages=10, batch_messages=1000,
        flush_ms=1000,
    ).start()  # fmt: skip
    sent = 3000
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(sent):
                s.sendto(b"<13>Dec  1 10:00:00 h app: burst %d" % i, ("127.0.0.1", r.port))
        assert r.wait_stored(10, WAIT_S)
    finally:
        r.stop()
    st = r.status()
    stored = engine.query("SELECT count(*) AS n FROM logs").to_pylist()[0]["n"]
    assert st["dropped_udp"] > 0
    # What the kernel dropped (its buffer full) is reported too, never hidden.
    assert st["kernel_dropped_udp"] is None or st["kernel_dropped_udp"] >= 0
    assert st["received_udp"] + (st["kernel_dropped_udp"] or 0) <= sent
    assert stored == st["stored"] == st["received_udp"] - st["dropped_udp"]
    assert st["received_udp"] <= sent


def test_frame_decoder_splits_frames_keeps_plain_lines_and_refuses_oversized_counts():
    d = FrameDecoder(max_message_bytes=100)
    assert d.feed(b"12 <13>hello w") == []
    assert d.feed(b"x5 <13>a\n<13>b\r\n<13>c") == [b"<13>hello wx", b"<13>a", b"<13>b"]
    assert d.finish() == [b"<13>c"]
    with pytest.raises(FramingError, match="exceeds 100"):
        FrameDecoder(100).feed(b"5000 <13>...")
    # A plain line that starts with digits is a line, not a broken octet count: the
    # sender keeps its connection and nothing is lost.
    plain = FrameDecoder(100)
    assert plain.feed(b"2026-12-01 10:00:00 web1 app: disk full\n12") == [
        b"2026-12-01 10:00:00 web1 app: disk full"
    ]
    assert plain.feed(b"\n12345678901234 x\n11 <13>ok") == [b"12", b"12345678901234 x"]
    assert plain.feed(b" here") == [b"<13>ok here"]
    assert plain.finish() == []
    tail = FrameDecoder(100)
    assert tail.feed(b"404 not found") == [] and tail.finish() == [b"404 not found"]


def test_listen_setting_from_the_environment_and_bad_values():
    settings = load_settings(env={"OPSENGINE_SYSLOG_LISTEN": "0.0.0.0:1514"})
    assert parse_listen(settings.syslog.listen) == ("0.0.0.0", 1514)
    assert parse_listen("[::1]:514") == ("::1", 514)
    with pytest.raises(ValueError, match=r"syslog\.listen"):
        parse_listen("localhost")
    with pytest.raises(ValueError, match=r"syslog\.listen"):
        parse_listen("localhost:99999")


def test_a_taken_port_is_a_clear_error(engine, receiver):
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{receiver.port}"):
        SyslogReceiver(engine.logs, f"127.0.0.1:{receiver.port}").start()


@needs_logger
def test_100k_messages_from_logger_over_tcp_arrive_complete(engine, receiver):
    n = 100_000
    lines = "".join(f"job {i} finished\n" for i in range(n))
    subprocess.run(
        ["logger", "-n", "127.0.0.1", "-P", str(receiver.port), "--tcp", "--octet-count",
         "--rfc5424", "-t", "batch", "-p", "daemon.info"],
        input=lines, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert receiver.wait_stored(n, WAIT_S * 4), receiver.status()
    count, distinct = (
        engine.query("SELECT count(*), count(DISTINCT message) FROM logs WHERE app = 'batch'")
        .to_pylist()[0]
        .values()
    )
    assert (count, distinct) == (n, n)


def test_stopping_stores_everything_a_tcp_sender_wrote_before_the_stop(engine):
    """A sender that wrote and still holds its connection open (rsyslog does) loses nothing
    when the engine stops: what the kernel accepted is read, queued and stored."""
    r = SyslogReceiver(engine.logs, "127.0.0.1:0", flush_ms=50, queue_messages=1_000).start()
    n = 50_000
    payload = b"".join(
        b"<14>1 2026-12-01T10:00:00Z web4 api - - - order %d taken\n" % i for i in range(n)
    )
    with socket.create_connection(("127.0.0.1", r.port)) as s:
        s.sendall(payload)  # handed to the kernel; most of it not yet read by the receiver
        r.stop()
    stored = engine.query("SELECT count(*) AS c, count(DISTINCT message) AS d FROM logs")
    assert stored.to_pylist() == [{"c": n, "d": n}]
    assert r.status()["stored"] == n
