"""Real receivers for the incident tests: an HTTP webhook receiver and an SMTP server, both
on 127.0.0.1, recording what they were sent; and a few builders of alert changes."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opsengine.alerts import AlertChange, changes_table

DAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def at(hhmm: str, day: datetime = DAY) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return day + timedelta(hours=hours, minutes=minutes)


def alert(
    ts: str,
    rule: str,
    state: str,
    since: str,
    labels: dict[str, str],
    *,
    severity: str = "medium",
    category: str = "error",
    source: str = "metric",
    annotations: dict[str, str] | None = None,
) -> Any:
    """A one-row ALERT_CHANGES table; times are HH:MM on :data:`DAY`."""
    fired = at(ts) if state == "firing" else None
    resolved = at(ts) if state == "resolved" else None
    return changes_table(
        [
            AlertChange(
                ts=at(ts), rule=rule, state=state, active_since=at(since), labels=labels,
                annotations=annotations or {}, severity=severity, category=category,
                source=source, fired_at=fired, resolved_at=resolved,
            )
        ]
    )  # fmt: skip


class WebhookReceiver:
    """An HTTP server that records each POST; ``statuses`` answers the first requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # popped per request; 200 when empty
        self.location: str | None = None  # a Location header on every answer (redirects)
        self.kill_pid: int | None = None  # SIGKILL this process on the next request
        # Called once, on the next request, before it is answered (another sender at work).
        self.on_request: Any = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.requests.append(
                    {"path": self.path, "key": self.headers.get("Idempotency-Key"), "json": body}
                )
                if receiver.on_request is not None:
                    action, receiver.on_request = receiver.on_request, None
                    action()
                if receiver.kill_pid is not None:
                    # The sender dies after its request arrived and before it hears back.
                    os.kill(receiver.kill_pid, signal.SIGKILL)
                    receiver.kill_pid = None
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if receiver.location is not None:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                receiver.requests.append({"path": self.path, "method": "GET", "json": None})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpInbox:
    """aiosmtpd on a free local port; ``messages`` holds the parsed mails."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                inbox.messages.append(
                    email.message_from_bytes(envelope.content, policy=email.policy.default)
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def receivers() -> Iterator[tuple[WebhookReceiver, SmtpInbox]]:
    hook, smtp = WebhookReceiver(), SmtpInbox()
    try:
        yield hook, smtp
    finally:
        hook.close()
        smtp.close()
