"""Signed one-time links for satisfaction surveys.

A token is ``<ticket id>.<nonce>.<expiry>.<signature>``: HMAC-SHA256 over the first three
parts with a key of this installation. The requester needs no account: holding the link is
the permission, for that ticket's current survey only (the nonce is kept with the survey,
so a re-issued survey invalidates the old link), until it expires, once.

The key is a file in the store's data directory — ``ops.data/csat.key`` beside
``ops.duckdb`` by default, mode 0600, made on first use — never a table: tables are readable through the admin SQL endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import datetime
from pathlib import Path

from opsengine.tickets.model import SurveyRefused

KEY_BYTES = 32


def load_key(path: Path) -> bytes:
    """The signing key at ``path``, created (0600, atomically) if absent."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _read(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise OSError(f"{path}: the CSAT signing key is shorter than {KEY_BYTES} bytes")
    return key


class SurveySigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, ticket_id: int, nonce: str, expires_at: datetime) -> str:
        body = f"{ticket_id}.{nonce}.{int(expires_at.timestamp())}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, now: datetime) -> tuple[int, str]:
        """(ticket id, nonce) of a genuine, unexpired token; SurveyRefused otherwise."""
        parts = token.split(".") if isinstance(token, str) and len(token) < 300 else []
        if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
            raise SurveyRefused("token: not a survey link of this desk")
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(body), parts[3]):
            raise SurveyRefused("token: not a survey link of this desk")
        if int(parts[2]) < now.timestamp():
            raise SurveyRefused("token: this survey link has expired")
        return int(parts[0]), parts[1]

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def new_nonce() -> str:
    return secrets.token_urlsafe(12)
