"""The syslog listener: UDP and TCP (RFC 6587 octet counting and newline framing) into the
store in batches, headers (RFC 3164, RFC 5424) parsed by the core via ``write_lines``. A
message whose header names no host (``<13>su: …``, a bare line) is stored with the
sender's address as its host, so every row says which machine it came from.

Received messages wait in one bounded buffer; a flusher thread stores them in batches of
``batch_messages``, or whatever is there after ``flush_ms``. When the buffer is full a TCP
sender is pushed back (its connection is not read until there is room) and a UDP datagram,
which cannot be pushed back, is dropped and counted in ``dropped_udp`` (logged at most once
a minute); datagrams the kernel dropped before they were read are in
``kernel_dropped_udp``. A batch the store refuses is kept and retried, so a brief store
fault costs no message; a long one fills the buffer and the policy above applies.

TCP connections are bounded so that idle or hostile peers cannot lock senders out: at most
``MAX_CONNECTIONS`` in all and ``connections_per_address`` from one address, each closed
after ``idle_timeout_s`` without a byte. Connections refused are counted by reason
(``connections_refused``) and shown with the open ones in ``status()`` (``/health``).

Stopping is ordered so that nothing a sender handed over is lost: the listeners close,
each TCP connection is read to the end of what its sender wrote (at most ``DRAIN_S``),
and only when every receiving thread has queued its last message does the flusher store
the rest and end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import deque
from typing import Any

import pyarrow as pa

from opsengine.ingest.logs import LogIngestor

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
MAX_CONNECTIONS = 256
IDLE_TIMEOUT_S = 300.0
CONNECTIONS_PER_ADDRESS = 32
#: On stop, how long a TCP connection may still be read: what its sender wrote before
#: the stop is stored, a sender that never stops writing cannot hold the shutdown.
DRAIN_S = 5.0
SOURCE = "syslog"
_MAX_LENGTH_DIGITS = 9


class FramingError(ValueError):
    """A TCP stream that is not RFC 6587 syslog; the connection is closed."""


def parse_listen(text: str, where: str = "syslog.listen") -> tuple[str, int]:
    """``host:port`` (``[::1]:514`` for IPv6) → (host, port); ValueError naming ``where``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{where}: expected host:port, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _clean(message: bytes) -> bytes:
    return message.rstrip(b"\r\n\x00")


class FrameDecoder:
    """Splits a TCP byte stream into syslog messages, per message by RFC 6587: a frame that
    starts with ``LEN SP <`` is octet-counted (a syslog message starts with ``<PRI>``),
    otherwise it ends at LF — so a plain line that happens to start with a digit (``2024-…``)
    is a line, not a broken count that would cost the sender its connection."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max = max_message_bytes
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        while self.buf:
            if self.buf[0] in b"\r\n\x00":
                del self.buf[0]  # stray terminators between frames
                continue
            counted = self._octet_count()
            if counted == -1:
                break  # the header is not complete yet
            if counted is not None:
                space, n = counted
                if n > self.max:
                    raise FramingError(f"message of {n} bytes exceeds {self.max}")
                if len(self.buf) < space + 1 + n:
                    break
                out.append(_clean(bytes(self.buf[space + 1 : space + 1 + n])))
                del self.buf[: space + 1 + n]
                continue
            end = self.buf.find(b"\n")
            if end < 0:
                if len(self.buf) > self.max:  # a runaway line: store it cut, stay in sync
                    out.append(_clean(bytes(self.buf[: self.max])))
                    del self.buf[: self.max]
                    continue
                break
            out.append(_clean(bytes(self.buf[:end])))
            del self.buf[: end + 1]
        return [m for m in out if m]

    def _octet_count(self) -> tuple[int, int] | int | None:
        """(position of the space, length) of an octet-counted frame at the start of the
        buffer; -1 when more bytes are needed to tell; None for a newline-framed message."""
        if not self.buf[:1].isdigit():
            return None
        space = self.buf.find(b" ", 0, _MAX_LENGTH_DIGITS + 1)
        if space < 0:
            if b"\n" in self.buf[: _MAX_LENGTH_DIGITS + 1]:
                return None
            return -1 if len(self.buf) <= _MAX_LENGTH_DIGITS else None
        if len(self.buf) == space + 1:
            return -1
        digits = bytes(self.buf[:space])
        if not digits.isdigit() or self.buf[space + 1 : space + 2] != b"<":
            return None
        return space, int(digits)

    def finish(self) -> list[bytes]:
        """The unterminated last message of a closed connection."""
        counted = self._octet_count()
        rest, self.buf = _clean(bytes(self.buf)), bytearray()
        # A cut octet-counted frame is not a message; an unterminated line is.
        return [rest] if rest and counted is None else []


class SyslogReceiver:
    """Listens on ``host:port`` (UDP and/or TCP) and stores messages through ``ingestor``."""

    def __init__(
        self,
        ingestor: LogIngestor,
        listen: str = "127.0.0.1:5514",
        *,
        udp: bool = True,
        tcp: bool = True,
        queue_messages: int = 100_000,
        batch_messages: int = 10_000,
        flush_ms: int = 1_000,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        connections_per_address: int = CONNECTIONS_PER_ADDRESS,
    ) -> None:
        if not (udp or tcp):
            raise ValueError("syslog: neither udp nor tcp is enabled")
        if queue_messages < 1 or batch_messages < 1:
            raise ValueError("syslog.queue_messages and syslog.batch_messages must be >= 1")
        self.ingestor = ingestor
        self.host, self.port = parse_listen(listen)
        self.use_udp, self.use_tcp = udp, tcp
        self.capacity = queue_messages
        self.batch = batch_messages
        self.flush_s = max(flush_ms, 1) / 1000
        self.max_message_bytes = max_message_bytes
        if idle_timeout_s <= 0 or connections_per_address < 1:
            raise ValueError(
                "syslog.tcp_idle_timeout_s and syslog.tcp_connections_per_address must be >= 1"
            )
        self.idle_timeout_s = idle_timeout_s
        self.connections_per_address = connections_per_address
        self._per_address: dict[str, int] = {}
        # (message, sender's address): the host of messages whose header names none.
        self._queue: deque[tuple[bytes, str]] = deque()
        self._cond = threading.Condition()
        self._closing = threading.Event()  # receivers: accept nothing new, finish reading
        self._stopping = threading.Event()  # the flusher: store what is left, then end
        self._threads: list[threading.Thread] = []
        self._conn_threads: set[threading.Thread] = set()
        self._flusher: threading.Thread | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self.received_udp = 0
        self.received_tcp = 0
        self.dropped_udp = 0
        self.stored = 0
        self.store_errors = 0
        self.framing_errors = 0
        self.connections_refused: dict[str, int] = {}  # reason -> connections
        self.idle_closed = 0
        self._reported_drops = 0
        self._last_drop_report = 0.0

    @classmethod
    def from_settings(cls, ingestor: LogIngestor, cfg) -> SyslogReceiver:
        return cls(
            ingestor,
            cfg.listen,
            udp=cfg.udp,
            tcp=cfg.tcp,
            queue_messages=cfg.queue_messages,
            batch_messages=cfg.batch_messages,
            flush_ms=cfg.flush_ms,
            idle_timeout_s=cfg.tcp_idle_timeout_s,
            connections_per_address=cfg.tcp_connections_per_address,
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> SyslogReceiver:
        """Bind (port 0: a free port, the same for UDP and TCP) and start the threads.
        Raises OSError naming the address when it cannot be bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for attempt in range(20):
            try:
                self._bind(family)
                break
            except OSError as e:
                self._close_sockets()
                if self.port != 0 or attempt == 19:
                    raise OSError(
                        e.errno, f"syslog: cannot listen on {self.host}:{self.port}: {e.strerror}"
                    ) from None
        for name, target in (
            ("udp", self._serve_udp if self._udp else None),
            ("tcp", self._serve_tcp if self._tcp else None),
            ("flush", self._flush_loop),
        ):
            if target is not None:
                t = threading.Thread(target=target, name=f"opsengine-syslog-{name}", daemon=True)
                t.start()
                if name == "flush":
                    self._flusher = t
                else:
                    self._threads.append(t)
        return self

    def _bind(self, family: int) -> None:
        port = self.port
        if self.use_tcp:
            self._tcp = socket.socket(family, socket.SOCK_STREAM)
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._tcp.bind((self.host, port))
            self._tcp.listen(128)
            port = self._tcp.getsockname()[1]
        if self.use_udp:
            self._udp = socket.socket(family, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):  # a bigger kernel buffer absorbs bursts
                self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self._udp.bind((self.host, port))
            port = self._udp.getsockname()[1]
        self.port = port

    def _close_sockets(self) -> None:
        for s in (self._udp, self._tcp):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self._udp = self._tcp = None

    def stop(self) -> None:
        """Stop listening, store everything received (including what TCP senders wrote
        before the stop and the kernel holds unread), end the threads."""
        self._closing.set()
        self._accept_backlog()
        for s in (self._tcp, self._udp):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        for t in self._threads:  # the UDP reader and the TCP acceptor: no new connections
            t.join(timeout=30)
        self._threads.clear()
        for c in list(self._conns):
            with contextlib.suppress(OSError):
                # Reading side only: recv still returns the bytes already received, then
                # end-of-stream, so the connection's thread queues all of them.
                c.shutdown(socket.SHUT_RD)
        for t in list(self._conn_threads):
            t.join(timeout=DRAIN_S + 30)
        # Every receiver has queued its last message: now the flusher may finish.
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._flusher is not None:
            self._flusher.join(timeout=60)
            self._flusher = None
        self._close_sockets()
        self._report_drops(force=True)

    def _accept_backlog(self) -> None:
        """Connections the kernel completed but the acceptor had not taken yet: their
        senders may have written already, and closing the listener would reset them."""
        if self._tcp is None:
            return
        try:
            self._tcp.setblocking(False)
        except OSError:
            return
        while True:
            try:
                conn, peer = self._tcp.accept()
            except OSError:  # BlockingIOError: the backlog is empty
                return
            conn.setblocking(True)
            self._adopt(conn, peer)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def status(self) -> dict[str, Any]:
        transports = "/".join(t for t, on in (("udp", self._udp), ("tcp", self._tcp)) if on)
        return {
            "where": f"{transports} {self.address}",
            "received_udp": self.received_udp,
            "received_tcp": self.received_tcp,
            "dropped_udp": self.dropped_udp,
            "kernel_dropped_udp": self.kernel_dropped_udp(),
            "stored": self.stored,
            "queued": len(self._queue),
            "store_errors": self.store_errors,
            "framing_errors": self.framing_errors,
            "tcp_connections": len(self._conns),
            "tcp_connections_refused": dict(self.connections_refused),
            "tcp_idle_closed": self.idle_closed,
        }

    def kernel_dropped_udp(self) -> int | None:
        """Datagrams the kernel dropped before we read them (its socket buffer was full),
        from /proc/net/udp[6]; None where that is not available."""
        sock = self._udp
        if sock is None:
            return None
        try:
            inode = str(os.fstat(sock.fileno()).st_ino)
            for table in ("/proc/net/udp", "/proc/net/udp6"):
                with open(table) as f:
                    next(f)  # the header
                    for line in f:
                        cols = line.split()
                        if len(cols) > 12 and cols[9] == inode:
                            return int(cols[12])
        except (OSError, ValueError, StopIteration):
            return None
        return None

    def wait_stored(self, count: int, timeout: float) -> bool:
        """Block until ``stored >= count`` (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.stored < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- receiving ---------------------------------------------------------------
    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        while not self._closing.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                break
            if not data:
                if self._closing.is_set():
                    break
                continue
            message = _clean(data)
            if not message:
                continue
            with self._cond:
                self.received_udp += 1
                if len(self._queue) >= self.capacity:
                    self.dropped_udp += 1
                    continue
                self._queue.append((message, peer[0]))
                if len(self._queue) >= self.batch:
                    self._cond.notify_all()
            if self.dropped_udp != self._reported_drops:
                self._report_drops()

    def _report_drops(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.dropped_udp == self._reported_drops or (
            not force and now - self._last_drop_report < 60
        ):
            return
        log.warning(
            "syslog: dropped %d UDP message(s) since the last report (%d in all): "
            "the receive buffer of %d messages was full",
            self.dropped_udp - self._reported_drops,
            self.dropped_udp,
            self.capacity,
        )
        self._reported_drops, self._last_drop_report = self.dropped_udp, now

    def _serve_tcp(self) -> None:
        sock = self._tcp
        assert sock is not None
        while not self._closing.is_set():
            try:
                conn, peer = sock.accept()
            except OSError:
                break
            refused = self._refusal(peer[0])
            if refused:
                self.connections_refused[refused] = self.connections_refused.get(refused, 0) + 1
                log.debug("syslog: tcp connection from %s refused: %s", peer[0], refused)
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            # Even while stopping: the sender may have written already; it is drained.
            self._adopt(conn, peer)

    def _refusal(self, address: str) -> str | None:
        """Why a new connection from ``address`` is refused, or None."""
        if len(self._conns) >= MAX_CONNECTIONS:
            return "too many connections"
        if self._per_address.get(address, 0) >= self.connections_per_address:
            return "too many connections from one address"
        return None

    def _adopt(self, conn: socket.socket, peer: Any) -> None:
        self._conns.add(conn)
        with self._cond:
            self._per_address[peer[0]] = self._per_address.get(peer[0], 0) + 1
        # A peer that says nothing for this long gives its slot back (recv times out).
        conn.settimeout(self.idle_timeout_s)
        t = threading.Thread(
            target=self._serve_connection, args=(conn, peer), daemon=True,
            name="opsengine-syslog-conn",
        )  # fmt: skip
        self._conn_threads.add(t)
        t.start()

    def _serve_connection(self, conn: socket.socket, peer) -> None:
        decoder = FrameDecoder(self.max_message_bytes)
        drain_until = None
        try:
            while True:
                if self._closing.is_set():
                    drain_until = drain_until or time.monotonic() + DRAIN_S
                    if time.monotonic() > drain_until:
                        break
                data = conn.recv(256 * 1024)
                if not data:
                    self._enqueue_tcp(decoder.finish(), peer[0])
                    break
                self._enqueue_tcp(decoder.feed(data), peer[0])
        except FramingError as e:
            self.framing_errors += 1
            log.warning("syslog: tcp %s: %s; connection closed", peer, e)
        except TimeoutError:
            self.idle_closed += 1
            # What an idle peer sent before (a partial last frame) is kept, as at end of stream.
            with contextlib.suppress(FramingError):
                self._enqueue_tcp(decoder.finish(), peer[0])
        except OSError:
            pass
        finally:
            self._conns.discard(conn)
            with self._cond:
                left = self._per_address.get(peer[0], 1) - 1
                if left:
                    self._per_address[peer[0]] = left
                else:
                    self._per_address.pop(peer[0], None)
            conn.close()
            self._conn_threads.discard(threading.current_thread())

    def _enqueue_tcp(self, messages: list[bytes], sender: str) -> None:
        """Queue ``messages``, waiting for room: TCP senders are pushed back, never dropped."""
        i = 0
        with self._cond:
            while i < len(messages):
                room = self.capacity - len(self._queue)
                if room <= 0:
                    self._cond.notify_all()
                    if self._closing.is_set():
                        room = len(messages) - i  # shutting down: the flusher takes all
                    else:
                        self._cond.wait(0.5)
                        continue
                take = messages[i : i + room]
                self._queue.extend((m, sender) for m in take)
                self.received_tcp += len(take)
                i += len(take)
            if len(self._queue) >= self.batch:
                self._cond.notify_all()

    # -- storing -----------------------------------------------------------------
    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_s
                while len(self._queue) < self.batch and not self._stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                stopping = self._stopping.is_set()
                n = min(len(self._queue), self.batch)
                batch = [self._queue.popleft() for _ in range(n)]
                self._cond.notify_all()  # room for pushed-back TCP senders
            if batch and not self._store(batch):
                if stopping:
                    with self._cond:
                        lost = len(self._queue)
                        self._queue.clear()
                    log.error("syslog: %d message(s) not stored at shutdown", lost)
                    break
                self._stopping.wait(self.flush_s)  # give the store time to recover
            if stopping and not self._queue:
                break

    def _store(self, batch: list[tuple[bytes, str]]) -> bool:
        """Store ``batch``; on failure put it back at the front of the buffer, False."""
        lines = pa.array([m.decode("utf-8", errors="replace") for m, _ in batch], pa.string())
        senders = pa.array([sender for _, sender in batch], pa.string())
        try:
            self.ingestor.write_lines(lines, source=SOURCE, sender_hosts=senders)
        except Exception as e:  # the store may recover: keep the batch
            self.store_errors += 1
            log.warning("syslog: storing %d message(s) failed, will retry: %s", len(batch), e)
            with self._cond:
                self._queue.extendleft(reversed(batch))
            return False
        with self._cond:
            self.stored += len(batch)
            self._cond.notify_all()
        return True
