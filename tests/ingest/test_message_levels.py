"""Syslog lines without PRI get their level from a level word opening the message (read by
the core's header parser), a level the header gave (PRI, a log layout) is kept, and a
syslog message whose header names no host is stored with the sender's address as its host
(real UDP and TCP on 127.0.0.1)."""

from __future__ import annotations

import socket

import pyarrow as pa
import pytest
from opsengine import _core
from opsengine.engine import Engine
from opsengine.sources.syslog import SyslogReceiver

WAIT_S = 30  # upper bound for arrival over loopback; the test ends as soon as they arrive


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


def _levels(engine: Engine) -> dict[str, str | None]:
    rows = engine.query("SELECT raw, level FROM logs ORDER BY id").to_pylist()
    return {r["raw"]: r["level"] for r in rows}


def test_syslog_lines_without_pri_take_the_level_their_message_opens_with(engine):
    expected = {
        # rsyslog's file format (RFC 3339 time, host tag[pid]:, no PRI)
        "2026-12-01T10:00:00.123+00:00 web1 api[3]: ERROR upstream timed out": "error",
        "2026-12-01T10:00:01Z web1 api[3]: [warn] queue 80% full": "warning",
        "2026-12-01T10:00:02Z web1 api[3]: FATAL cannot bind :8080": "critical",
        "2026-12-01T10:00:03Z web1 api[3]: Critical: disk /data failing": "critical",
        "2026-12-01T10:00:04Z web1 api[3]: <debug> cache warm": "debug",
        # classic RFC 3164 without PRI
        "Dec  1 10:00:05 web2 cron[9]: (ERROR) job failed": "error",
        "Dec  1 10:00:06 web2 sshd[9]: INFO session opened": "info",
        # not a level word: prose, part of a longer word, a level in the middle
        "2026-12-01T10:00:07Z web1 api[3]: Error loading config, using defaults": None,
        "2026-12-01T10:00:08Z web1 api[3]: ERRORS: 0": None,
        "2026-12-01T10:00:09Z web1 api[3]: request done, WARN none": None,
        # a level from the header wins over the message's word
        "<14>Dec  1 10:00:10 web2 app: ERROR but PRI says info": "info",
        "2026-12-01 10:00:11,000 WARN [main] c.Shop: ERROR in text only": "warning",
    }
    engine.ingest_logs(list(expected), source="fallback")
    assert _levels(engine) == expected


def test_logfmt_lines_give_their_time_and_level(engine):
    """Go services, Prometheus and Loki log in logfmt: the time and level come from their
    pairs, and a logfmt message inside a syslog line gives its level too."""
    lines = [
        'ts=2026-12-01T10:00:00.250Z caller=scrape.go:1 level=warn msg="scrape failed"',
        'time="2026-12-01T11:00:01+01:00" level=error msg="db down" err="dial tcp: refused"',
        "Dec  1 10:00:02 web2 app[7]: level=info msg=started",
        "2026-12-01T10:00:03Z web1 api[3]: cpu=3 loglevel=error is not a level",
    ]
    engine.ingest_logs(lines, source="logfmt")
    rows = engine.query(
        "SELECT strftime(ts AT TIME ZONE 'UTC', '%H:%M:%S.%g') AS t, level, message "
        "FROM logs ORDER BY id"
    ).to_pylist()
    assert [(r["t"], r["level"]) for r in rows] == [
        ("10:00:00.250", "warning"),
        ("10:00:01.000", "error"),
        ("10:00:02.000", "info"),
        ("10:00:03.000", None),
    ]
    assert rows[0]["message"] == lines[0], "a logfmt line is its own message"


def test_only_a_marked_first_word_is_a_level():
    """The core's rule for a message that opens with a level word, after either header."""
    messages = [
        "", "   [ERROR] x", "trace3: deep", "eRRor: mixed case", "WARNING", "Note: hi",
        "(Informational) x", "alert", "PANIC! no",
    ]  # fmt: skip
    expected = [None, "error", "trace", None, "warning", "notice", "info", None, None]
    for header in ("Dec  1 10:00:00 h app: ", "2026-12-01T10:00:00Z h app: "):
        headers = _core.parse_headers(pa.array([header + m for m in messages]))
        assert headers.column("level").to_pylist() == expected, header
    # A null line has no level either.
    assert _core.parse_headers(pa.array([None], pa.string())).column("level").to_pylist() == [None]


def test_syslog_messages_without_a_host_get_the_senders_address(engine):
    receiver = SyslogReceiver(engine.logs, "127.0.0.1:0", flush_ms=20).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<11>su: authentication failure", ("127.0.0.1", receiver.port))
            udp.sendto(b"Dec  1 10:00:00 su[4]: [error] no host here", ("127.0.0.1", receiver.port))
            udp.sendto(
                b"Dec  1 10:00:01 web7 app[5]: named host wins", ("127.0.0.1", receiver.port)
            )
        with socket.create_connection(("127.0.0.1", receiver.port)) as tcp:
            tcp.sendall(b"<13>cron: over tcp without host\n")
        assert receiver.wait_stored(4, WAIT_S), receiver.status()
    finally:
        receiver.stop()
    rows = engine.query("SELECT message, host, app, level FROM logs ORDER BY message").to_pylist()
    assert rows == [
        {"message": "[error] no host here", "host": "127.0.0.1", "app": "su", "level": "error"},
        {"message": "authentication failure", "host": "127.0.0.1", "app": "su", "level": "error"},
        {"message": "named host wins", "host": "web7", "app": "app", "level": None},
        {"message": "over tcp without host", "host": "127.0.0.1", "app": "cron", "level": "notice"},
    ]  # fmt: skip


def test_an_explicit_host_still_wins_over_the_senders_address(engine):
    lines = pa.array(["<13>su: no header host", "Dec  1 10:00:00 web8 app: header host"])
    senders = pa.array(["192.0.2.7", "192.0.2.7"])
    engine.logs.write_lines(lines, source="syslog", sender_hosts=senders)
    engine.logs.write_lines(lines, source="relay", host="edge1", sender_hosts=senders)
    rows = engine.query("SELECT source, host FROM logs ORDER BY id").to_pylist()
    assert [(r["source"], r["host"]) for r in rows] == [
        ("syslog", "192.0.2.7"),
        ("syslog", "web8"),
        ("relay", "edge1"),
        ("relay", "edge1"),
    ]
