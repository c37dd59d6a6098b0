"""The notification outbox: every notice is stored before it is sent, every try recorded.

Exactly-once is impossible across a crash, so the outbox chooses *never twice*:

1. ``enqueue`` writes the notice under its idempotency key (incident, reason, channel);
   the same key again is ignored, so replays and restarts do not queue a notice twice.
2. Before each send, the try is committed as ``sending`` with an attempt row ``started``.
3. After the send, the outcome is committed: ``sent``, or ``pending`` again with the next
   try after a doubling back-off (``failed`` once ``max_attempts`` is reached — a dead
   receiver is reported, never retried forever). A page still pending when the incident is
   acknowledged, resolved or closed is ``cancelled``.

A process killed between 2 and 3 leaves ``sending`` behind: on the next start
:meth:`Outbox.recover` marks it ``in_doubt`` and does not resend it (the receiver may
have it); an operator may force it with :meth:`Outbox.retry`. Webhooks carry the key in
an ``Idempotency-Key`` header and e-mails as Message-ID, so receivers can drop repeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from opsengine.notify.channels import (
    ChannelError,
    DeliveryError,
    redacted,
    render,
    scrub,
    send,
    validate_config,
)
from opsengine.store import Store
from opsengine.store.rows import bounded_text, dumps, query_dicts, utc

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600.0
STATES = ("pending", "sending", "sent", "failed", "in_doubt", "suppressed", "cancelled")


def idempotency_key(incident_id: int, reason: str, channel: str, at: datetime) -> str:
    """Names one notice: the incident, why, to which channel, for the step at event time ``at``."""
    text = f"{incident_id}\0{reason}\0{channel}\0{utc(at).isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Outbox:
    """Channels and the notifications queued, sent, failed or in doubt for them."""

    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 5,
        backoff: float = 30.0,
        timeout: float = 10.0,
        on_outcome: Callable[..., None] | None = None,
    ) -> None:
        self.store = store
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.timeout = timeout
        # Told (notification, outcome, error, now, cur=transaction or None) of each final
        # outcome: the incident timeline hears it.
        self.on_outcome = on_outcome

    # -- channels --------------------------------------------------------------
    def set_channel(
        self,
        name: str,
        kind: str,
        config: dict[str, Any],
        *,
        owner: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        name = bounded_text(name, "name", 128, error=ChannelError)
        owner = bounded_text(owner, "owner", 128, required=False, error=ChannelError)
        config = validate_config(name, kind, config)
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO notification_channels VALUES (?, ?, ?, ?, ?)",
                [name, kind, owner, json.dumps(config), utc(at)],
            )
        return self.channel(name, shown=True)

    def channel(self, name: str, *, shown: bool = False) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM notification_channels WHERE name = ?", [name])
        if not rows:
            raise ChannelError(f"channel {name!r}: no such notification channel")
        row = rows[0]
        row["config"] = json.loads(row["config"])
        if shown:
            row["config"] = redacted(row["kind"], row["config"])
        return row

    def channels(self, *, owner: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT name FROM notification_channels", []
        if owner is not None:
            sql += " WHERE owner = ?"
            params.append(owner)
        return [
            self.channel(r["name"], shown=True) for r in self._rows(sql + " ORDER BY name", params)
        ]

    def delete_channel(self, name: str) -> None:
        self.channel(name)
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM notification_channels WHERE name = ?", [name])

    # -- queue -------------------------------------------------------------------
    def enqueue(
        self,
        incident_id: int,
        channel: str,
        reason: str,
        notice: dict[str, Any],
        now: datetime,
        *,
        suppressed_by: str | None = None,
        cur: Any = None,
    ) -> str | None:
        """Store a notice for ``channel``; returns its key, or None if it was already queued.

        ``cur``: the caller's transaction (the escalation step and its timeline row commit
        with it), else one of its own."""
        key = idempotency_key(incident_id, reason, channel, now)
        try:
            ch = self.channel(channel)
            payload = render(ch["kind"], ch["config"], {**notice, "idempotency_key": key})
            state, error = ("suppressed", suppressed_by) if suppressed_by else ("pending", None)
        except ChannelError as e:
            payload, state, error = {}, "failed", str(e)
        row = [key, incident_id, channel, reason, dumps(payload), state,
               now if state == "pending" else None, now, error]  # fmt: skip
        sql = (
            "INSERT OR IGNORE INTO notifications VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, NULL, ?) "
            "RETURNING key"
        )
        if cur is not None:
            inserted = cur.execute(sql, row).fetchall()
        else:
            with self.store.transaction() as own:
                inserted = own.execute(sql, row).fetchall()
        return key if inserted else None

    def due(self, now: datetime) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, created_at, key",
            [now],
        )

    def deliver_due(self, now: datetime) -> dict[str, int]:
        """Try every notice whose time has come; returns counts by outcome."""
        counts: dict[str, int] = {}
        for n in self.due(now):
            outcome = self._attempt(n, now)
            if outcome != "taken":
                counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def _claim(self, n: dict[str, Any], now: datetime) -> int | None:
        """Mark ``n`` as being sent; its attempt number, or None if another thread (the
        ticker, an operator's tick) claimed it since it was listed as due."""
        with self.store.transaction() as cur:
            # The state check and the update are one statement under the store's write
            # lock, so of two threads that both listed the notice as due only one sends it.
            claimed = cur.execute(
                "UPDATE notifications SET state = 'sending', attempts = attempts + 1 "
                "WHERE key = ? AND state = 'pending' AND next_attempt_at <= ? RETURNING attempts",
                [n["key"], now],
            ).fetchall()
            if not claimed:
                return None
            n["attempts"] = claimed[0][0] - 1
            attempt = cur.execute(
                "SELECT coalesce(max(attempt), 0) + 1 FROM notification_attempts WHERE key = ?",
                [n["key"]],
            ).fetchone()[0]
            cur.execute(
                "INSERT INTO notification_attempts VALUES (?, ?, ?, 'started', NULL)",
                [n["key"], attempt, now],
            )
        return attempt

    def _attempt(self, n: dict[str, Any], now: datetime) -> str:
        attempt = self._claim(n, now)
        if attempt is None:
            return "taken"
        tries = n["attempts"] + 1  # in this round; an operator's retry starts a new round
        error = None
        config: dict[str, Any] = {}
        try:
            ch = self.channel(n["channel"])
            config = ch["config"]
            send(ch["kind"], config, json.loads(n["payload"]), n["key"], timeout=self.timeout)
        except (DeliveryError, ChannelError) as e:
            error = scrub(str(e), config)
        except Exception as e:  # a fault of ours must still end the try, never leave 'sending'
            # No traceback: its frames and message would carry the channel's secrets.
            error = scrub(f"{type(e).__name__}: {e}", config)
            log.error(
                "notification %s to %s: unexpected send failure: %s", n["key"], n["channel"], error
            )
        if error is None:
            outcome, next_at = "sent", None
        elif tries >= self.max_attempts:
            outcome, next_at = "failed", None
        else:
            outcome = "retry"
            next_at = now + timedelta(seconds=min(self.backoff * 2 ** (tries - 1), MAX_BACKOFF))
        with self.store.transaction() as cur:
            cur.execute(
                "UPDATE notification_attempts SET outcome = ?, error = ? WHERE key = ? AND attempt = ?",
                ["sent" if error is None else "failed", error, n["key"], attempt],
            )
            cur.execute(
                "UPDATE notifications SET state = ?, next_attempt_at = ?, last_error = ?, "
                "sent_at = ? WHERE key = ?",
                [
                    "pending" if outcome == "retry" else outcome,
                    next_at,
                    error,
                    now if error is None else None,
                    n["key"],
                ],
            )
            if self.on_outcome is not None and outcome != "retry":
                # The timeline row commits with the outcome it reports.
                self.on_outcome(n, outcome, error, now, cur=cur)
        if error is not None:
            log.warning(
                "notification %s to %s: try %d of %d failed: %s",
                n["key"], n["channel"], tries, self.max_attempts, error,
            )  # fmt: skip
        return outcome

    def recover(self, now: datetime) -> list[dict[str, Any]]:
        """After a restart: tries that never recorded their outcome become ``in_doubt``."""
        stuck = self._rows("SELECT * FROM notifications WHERE state = 'sending' ORDER BY key")
        if not stuck:
            return []
        with self.store.transaction() as cur:
            for n in stuck:
                cur.execute(
                    "UPDATE notifications SET state = 'in_doubt', last_error = ? WHERE key = ?",
                    ["the process stopped during this try; not resent", n["key"]],
                )
                cur.execute(
                    "UPDATE notification_attempts SET outcome = 'in_doubt' "
                    "WHERE key = ? AND outcome = 'started'",
                    [n["key"]],
                )
        for n in stuck:
            log.warning("notification %s to %s is in doubt after a restart", n["key"], n["channel"])
            if self.on_outcome is not None:
                self.on_outcome(n, "in_doubt", None, now)
        return stuck

    def retry(self, key: str, now: datetime) -> None:
        """Queue a failed or in-doubt notice again (an operator's explicit choice)."""
        rows = self._rows("SELECT state FROM notifications WHERE key = ?", [key])
        if not rows:
            raise ChannelError(f"notification {key!r}: no such notification")
        if rows[0]["state"] not in ("failed", "in_doubt"):
            raise ChannelError(
                f"notification {key}: is {rows[0]['state']}; only failed or in_doubt can be retried"
            )
        with self.store.transaction() as cur:
            cur.execute(
                "UPDATE notifications SET state = 'pending', next_attempt_at = ?, attempts = 0 "
                "WHERE key = ?",
                [now, key],
            )

    # -- reads -------------------------------------------------------------------
    def notifications(
        self, *, incident_id: int | None = None, state: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if incident_id is not None:
            where.append("incident_id = ?")
            params.append(incident_id)
        if state is not None:
            if state not in STATES:
                raise ChannelError(f"state must be one of {', '.join(STATES)}, got {state!r}")
            where.append("state = ?")
            params.append(state)
        sql = "SELECT key, incident_id, channel, reason, state, attempts, next_attempt_at, created_at, sent_at, last_error FROM notifications"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._rows(
            sql + " ORDER BY created_at, key LIMIT ?", [*params, max(1, min(limit, 10_000))]
        )
        return self._scrubbed(rows, "last_error")

    def attempts(self, key: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT a.*, n.channel FROM notification_attempts a "
            "JOIN notifications n USING (key) WHERE key = ? ORDER BY attempt",
            [key],
        )
        return [
            {k: v for k, v in r.items() if k != "channel"} for r in self._scrubbed(rows, "error")
        ]

    def _scrubbed(self, rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
        """Errors stored before sends scrubbed them may quote a secret: scrubbed on reading."""
        configs: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r.get(column):
                if r["channel"] not in configs:
                    try:
                        configs[r["channel"]] = self.channel(r["channel"])["config"]
                    except ChannelError:
                        configs[r["channel"]] = {}
                r[column] = scrub(r[column], configs[r["channel"]])
        return rows

    def _rows(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        return query_dicts(self.store, sql, params)
