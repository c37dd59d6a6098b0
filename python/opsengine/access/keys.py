"""API keys: bearer tokens with a role, stored only as a SHA-256 of the token.

A token reads ``oek_<id>_<secret>``: ``id`` is public (it names the key in lists, the
audit log and ``revoke``), ``secret`` is 256 random bits. The table keeps the hash of the
whole token, so a copy of the database does not let anyone in; checking a token looks the
key up by id and compares hashes in constant time. The token itself is returned once, by
:meth:`KeyStore.create`, and never again.

Keys are held in memory too, so authenticating a request touches no database; only this
process writes the table (DuckDB's single writer), so the copy stays exact.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from opsengine.store import Store

ROLES = ("viewer", "operator", "admin")
TOKEN_PREFIX = "oek"
_TOKEN = re.compile(r"^oek_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
MAX_NAME_CHARS = 200


class KeyError_(ValueError):
    """A key request that cannot be done (bad role, unknown id); the message says which."""


class LastAdminKeyError(KeyError_):
    """Revoking this key would leave no active admin key, and nobody could manage keys."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    """A key just made, with the token: the only time the token exists outside the client."""

    key: ApiKey
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_key_id(token: str) -> str | None:
    """The public id inside a well-formed token (safe to log), else None."""
    m = _TOKEN.match(token)
    return m.group("id") if m else None


class KeyStore:
    """The ``api_keys`` table, with an in-memory copy for authentication."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[ApiKey, str]] = {}
        self.reload()

    def reload(self) -> None:
        rows = (
            self.store.cursor()
            .execute(
                "SELECT id, name, role, token_sha256, created_at, created_by, revoked_at, revoked_by "
                "FROM api_keys"
            )
            .fetchall()
        )
        keys = {r[0]: (ApiKey(r[0], r[1], r[2], r[4], r[5], r[6], r[7]), r[3]) for r in rows}
        with self._lock:
            self._keys = keys

    # -- managing ----------------------------------------------------------
    def create(self, role: str, name: str = "", *, created_by: str = "cli") -> NewKey:
        if role not in ROLES:
            raise KeyError_(f"role {role!r} is not one of {', '.join(ROLES)}")
        name = (name or f"{role} key").strip()
        if len(name) > MAX_NAME_CHARS:
            raise KeyError_(f"name is {len(name)} characters; at most {MAX_NAME_CHARS}")
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, role, datetime.now(UTC), created_by)
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                [key.id, key.name, key.role, token_hash(token), key.created_at, created_by],
            )
        with self._lock:
            self._keys[key.id] = (key, token_hash(token))
        return NewKey(key, token)

    def revoke(self, key_id: str, *, revoked_by: str = "cli") -> ApiKey:
        with self._lock:
            entry = self._keys.get(key_id)
        if entry is None:
            raise KeyError_(f"no API key with id {key_id!r}")
        key, digest = entry
        if not key.active:
            return key
        if key.role == "admin" and not any(
            k.active and k.role == "admin" and k.id != key_id for k in self.list()
        ):
            raise LastAdminKeyError(
                f"key {key_id} is the last active admin key; create another admin key first"
            )
        now = datetime.now(UTC)
        with self.store.transaction() as cur:
            cur.execute(
                "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                [now, revoked_by, key_id],
            )
        revoked = ApiKey(
            key.id, key.name, key.role, key.created_at, key.created_by, now, revoked_by
        )
        with self._lock:
            self._keys[key_id] = (revoked, digest)
        return revoked

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        with self._lock:
            keys = [k for k, _ in self._keys.values()]
        keys.sort(key=lambda k: (k.created_at, k.id))
        return [k for k in keys if include_revoked or k.active]

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            entry = self._keys.get(key_id)
        return entry[0] if entry else None

    def count(self) -> int:
        with self._lock:
            return len(self._keys)

    # -- checking ----------------------------------------------------------
    def authenticate(self, token: str) -> tuple[ApiKey | None, str]:
        """(the key, "") for a valid active token, else (None, why) — why never holds the token."""
        m = _TOKEN.match(token)
        if not m:
            return None, "malformed token"
        with self._lock:
            entry = self._keys.get(m.group("id"))
        if entry is None:
            return None, f"unknown key {m.group('id')}"
        key, digest = entry
        if not hmac.compare_digest(digest, token_hash(token)):
            return None, f"wrong secret for key {key.id}"
        if not key.active:
            return None, f"key {key.id} was revoked"
        return key, ""
