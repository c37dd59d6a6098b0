"""Network helpers for the sources tests: a port on 127.0.0.1 that nobody listens on."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port that was free a moment ago: connecting to it is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
