"""The admin channel's wire format, shared by the engine's server and the CLI's client.

One request per connection over a Unix domain socket at ``<db path>.sock``:

- request: 4-byte big-endian length, then UTF-8 JSON, at most 1 MiB:
  ``{"sql": "...", "params": [...] | {...}}`` or ``{"query": NAME, "params": {...}}``;
- response: one kind byte, 8-byte big-endian length, then the payload:
  ``A`` an Arrow IPC stream (schema metadata ``opsengine.truncated`` = ``true``
  when the row limit cut the result, ``opsengine.row_limit`` the limit), or
  ``E`` JSON ``{"error": message, "kind": "refused" | "bad_request" | "bad_input" | "failed"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_REQUEST_BYTES = 1 << 20
DEFAULT_ROW_LIMIT = 1_000_000
KIND_ARROW = b"A"
KIND_ERROR = b"E"
TRUNCATED_KEY = b"opsengine.truncated"
ROW_LIMIT_KEY = b"opsengine.row_limit"

_REQUEST_HEADER = struct.Struct(">I")
_RESPONSE_HEADER = struct.Struct(">cQ")
# sockaddr_un.sun_path holds 108 bytes on Linux (104 on BSD/macOS) including the NUL.
_MAX_UNIX_PATH = 103


class ChannelProtocolError(Exception):
    """The other side broke the framing (short read, oversized frame, bad JSON)."""


def socket_path_for(db_path: str | Path) -> Path:
    """Where the process holding ``db_path`` serves its admin channel."""
    resolved = Path(db_path).expanduser().resolve()
    return resolved.with_name(resolved.name + ".sock")


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for bind/connect that works even past the sun_path length limit.

    A long path is reached through the parent directory's descriptor under
    /proc/self/fd (Linux), so deep temporary folders work too.
    """
    if len(os.fsencode(path)) <= _MAX_UNIX_PATH:
        yield str(path)
        return
    if not Path("/proc/self/fd").is_dir():
        raise OSError(f"{path}: the socket path is longer than {_MAX_UNIX_PATH} bytes")
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def peer_credentials(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a Unix socket, where the OS tells."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return pid, uid


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ChannelProtocolError(f"connection closed with {remaining} of {size} bytes unread")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def send_request(sock: socket.socket, request: dict[str, Any]) -> None:
    payload = json.dumps(request, default=str).encode("utf-8")
    if len(payload) > MAX_REQUEST_BYTES:
        raise ChannelProtocolError(
            f"request of {len(payload)} bytes exceeds the {MAX_REQUEST_BYTES} byte limit"
        )
    sock.sendall(_REQUEST_HEADER.pack(len(payload)) + payload)


def recv_request(sock: socket.socket) -> dict[str, Any]:
    (size,) = _REQUEST_HEADER.unpack(recv_exact(sock, _REQUEST_HEADER.size))
    if size > MAX_REQUEST_BYTES:
        raise ChannelProtocolError(
            f"request of {size} bytes exceeds the {MAX_REQUEST_BYTES} byte limit"
        )
    try:
        request = json.loads(recv_exact(sock, size).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChannelProtocolError(f"request is not JSON: {e}") from None
    if not isinstance(request, dict):
        raise ChannelProtocolError("request must be a JSON object")
    return request


def send_response(sock: socket.socket, kind: bytes, payload: bytes) -> None:
    sock.sendall(_RESPONSE_HEADER.pack(kind, len(payload)))
    sock.sendall(payload)


def send_error(sock: socket.socket, kind: str, message: str) -> None:
    send_response(sock, KIND_ERROR, json.dumps({"error": message, "kind": kind}).encode("utf-8"))


def recv_response(sock: socket.socket) -> tuple[bytes, bytes]:
    kind, size = _RESPONSE_HEADER.unpack(recv_exact(sock, _RESPONSE_HEADER.size))
    return kind, recv_exact(sock, size)
