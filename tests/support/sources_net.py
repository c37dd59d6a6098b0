"""Helpers for the sources tests: a port on 127.0.0.1 that nobody listens on, and waiting
for a source thread to have stored what it was sent."""

from __future__ import annotations

import socket
import time


def closed_port() -> int:
    """A port that was free a moment ago: connecting to it is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition`` until true (or ``timeout`` s): sources store from threads of their own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
