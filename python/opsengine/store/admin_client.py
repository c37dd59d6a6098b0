"""The CLI's side of the admin channel: send one read-only request, get an Arrow table back."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from opsengine.store import admin_protocol as wire
from opsengine.store.db import StoreError
from opsengine.store.named_queries import QueryError
from opsengine.store.sql_gate import WriteRefusedError


class AdminChannelError(StoreError):
    """The holder answered with an error (the SQL failed, the channel is busy, …)."""


class AdminChannelUnavailableError(StoreError):
    """Nothing answers at the socket: no holder serves a channel, or it died."""


@dataclass(frozen=True)
class ChannelResult:
    """A result read through the channel; ``truncated`` when the holder's row limit cut it."""

    table: pa.Table
    truncated: bool
    row_limit: int | None


class AdminChannelClient:
    """Talks to the process serving ``<db path>.sock``; one connection per request."""

    def __init__(self, socket_path: str | Path, *, timeout: float | None = None) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.holder_pid: int | None = None

    @classmethod
    def for_database(cls, db_path: str | Path, **kwargs: Any) -> AdminChannelClient:
        return cls(wire.socket_path_for(db_path), **kwargs)

    def sql(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> ChannelResult:
        """Run read-only SQL in the holder; the last statement's result."""
        request: dict[str, Any] = {"sql": sql}
        if params:
            request["params"] = params
        return self._request(request)

    def query(self, name: str, params: dict[str, Any] | None = None) -> ChannelResult:
        """Run a named query in the holder; parameter values are converted there."""
        return self._request({"query": name, "params": params or {}})

    def _request(self, request: dict[str, Any]) -> ChannelResult:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                with wire.unix_address(self.socket_path) as address:
                    sock.connect(address)
            except OSError as e:
                raise AdminChannelUnavailableError(
                    f"{self.socket_path}: no admin channel answers ({e.strerror or e})"
                ) from None
            peer = wire.peer_credentials(sock)
            if peer is not None:
                self.holder_pid = peer[0]
            try:
                wire.send_request(sock, request)
                kind, payload = wire.recv_response(sock)
            except (OSError, wire.ChannelProtocolError) as e:
                raise AdminChannelError(
                    f"{self.socket_path}: the admin channel failed: {e}"
                ) from None
        finally:
            sock.close()
        if kind == wire.KIND_ERROR:
            _raise_answered_error(payload)
        if kind != wire.KIND_ARROW:
            raise AdminChannelError(f"{self.socket_path}: unknown response kind {kind!r}")
        table = pa.ipc.open_stream(payload).read_all()
        metadata = table.schema.metadata or {}
        truncated = metadata.get(wire.TRUNCATED_KEY) == b"true"
        limit = metadata.get(wire.ROW_LIMIT_KEY)
        if metadata:
            clean = {k: v for k, v in metadata.items() if not k.startswith(b"opsengine.")}
            table = table.replace_schema_metadata(clean or None)
        return ChannelResult(table, truncated, int(limit) if limit else None)


def _raise_answered_error(payload: bytes) -> None:
    try:
        answer = json.loads(payload.decode("utf-8"))
        message, kind = str(answer["error"]), str(answer.get("kind", "failed"))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise AdminChannelError(
            f"unreadable error from the admin channel: {payload[:200]!r}"
        ) from None
    if kind == "refused":
        raise WriteRefusedError(message)
    if kind == "bad_input":
        raise QueryError(message)
    raise AdminChannelError(message)
