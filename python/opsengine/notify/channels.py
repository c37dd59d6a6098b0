"""Notification channels: where a notice goes (webhook, Slack-compatible webhook, SMTP e-mail).

A channel is stored without secrets: an SMTP password is read at send time from the
environment variable the channel names (``password_env``), and listings show webhook URLs
only up to their host, since Slack-style URLs carry their token in the path.

:func:`render` turns an incident notice into the channel's payload (stored with the
notification before the first try, so every retry sends the same bytes); :func:`send`
delivers it and raises :class:`DeliveryError` on any failure.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

KINDS = ("webhook", "slack", "email")
MAX_RESPONSE = 64 * 1024
_PRIORITY_COLOURS = {"P1": "#d00000", "P2": "#e85d04", "P3": "#f48c06", "P4": "#3a86ff"}


class ChannelError(ValueError):
    """A channel definition that cannot be used; the message names the channel and field."""


class DeliveryError(RuntimeError):
    """A send that failed; the message says why (never a secret)."""


def validate_config(name: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The channel's config, checked; errors name ``channel NAME: config.FIELD``."""
    if kind not in KINDS:
        raise ChannelError(f"channel {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(config, dict):
        raise ChannelError(f"channel {name}: config must be a mapping")
    if kind in ("webhook", "slack"):
        url = config.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChannelError(f"channel {name}: config.url must be an http(s) URL")
        headers = config.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ChannelError(f"channel {name}: config.headers must map names to strings")
        unknown = set(config) - {"url", "headers"}
    else:
        for field in ("host", "from"):
            if not isinstance(config.get(field), str) or not config[field]:
                raise ChannelError(f"channel {name}: config.{field} is required")
        to = config.get("to")
        if isinstance(to, str):
            config = {**config, "to": [to]}
        if not config.get("to") or not all(isinstance(a, str) and "@" in a for a in config["to"]):
            raise ChannelError(f"channel {name}: config.to must be one or more e-mail addresses")
        port = config.get("port", 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ChannelError(f"channel {name}: config.port must be 1..65535")
        if "password" in config:
            raise ChannelError(
                f"channel {name}: config.password is not stored; name an environment "
                "variable in config.password_env instead"
            )
        unknown = set(config) - {
            "host",
            "port",
            "from",
            "to",
            "starttls",
            "username",
            "password_env",
        }
    if unknown:
        raise ChannelError(f"channel {name}: unknown config field {sorted(unknown)[0]!r}")
    return config


def _where(url: str) -> str:
    """``host[:port]`` of a URL: never its user:password, path or query (tokens live there)."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def redacted(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as shown to users: only scheme and host of URLs, header values hidden."""
    if kind in ("webhook", "slack"):
        parts = urlsplit(config["url"])
        bare = not (parts.path.strip("/") or parts.query or parts.fragment or parts.username)
        shown = {"url": f"{parts.scheme}://{_where(config['url'])}" + ("/" if bare else "/…")}
        if config.get("headers"):
            shown["headers"] = dict.fromkeys(config["headers"], "…")
        return shown
    return {k: v for k, v in config.items()}


def render(kind: str, config: dict[str, Any], notice: dict[str, Any]) -> dict[str, Any]:
    """The payload for one channel kind from the generic notice."""
    inc = notice["incident"]
    headline = f"[{inc['priority']}] {inc['title']} — {notice['reason']}"
    if kind == "webhook":
        return notice
    if kind == "slack":
        fields = [
            {"title": "State", "value": inc["state"], "short": True},
            {"title": "Category", "value": inc["category"], "short": True},
        ]
        for key in ("service", "host", "assignee"):
            if inc.get(key):
                fields.append({"title": key.title(), "value": inc[key], "short": True})
        if notice.get("known_error"):
            fields.append(
                {"title": "Known error", "value": notice["known_error"]["title"], "short": False}
            )
        return {
            "text": f"Incident #{inc['id']} {headline}",
            "attachments": [
                {
                    "color": _PRIORITY_COLOURS.get(inc["priority"], "#8d99ae"),
                    "fields": fields,
                    "footer": f"opsengine · {notice['idempotency_key']}",
                }
            ],
        }
    lines = [
        f"Incident #{inc['id']}: {inc['title']}",
        f"Reason: {notice['reason']}",
        f"Priority: {inc['priority']}   State: {inc['state']}   Category: {inc['category']}",
    ]
    for key in ("service", "host", "assignee", "started_at", "detected_at"):
        if inc.get(key):
            lines.append(f"{key.replace('_', ' ').title()}: {inc[key]}")
    if notice.get("known_error"):
        ke = notice["known_error"]
        lines += [
            "",
            f"Known error #{ke['id']}: {ke['title']}",
            f"Workaround: {ke.get('workaround') or '-'}",
        ]
    return {"subject": f"Incident #{inc['id']} {headline}", "body": "\n".join(lines) + "\n"}


def send(
    kind: str, config: dict[str, Any], payload: dict[str, Any], key: str, *, timeout: float
) -> str:
    """Deliver ``payload``; returns a short receipt. Raises DeliveryError."""
    if kind in ("webhook", "slack"):
        return _post_json(config, payload, key, timeout)
    return _send_email(config, payload, key, timeout)


def _post_json(config: dict[str, Any], payload: dict[str, Any], key: str, timeout: float) -> str:
    body = json.dumps(payload, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "opsengine-notify/1",
        # Lets a receiver drop a repeat of a notice it already has.
        "Idempotency-Key": key,
        **config.get("headers", {}),
    }
    request = urllib.request.Request(config["url"], data=body, headers=headers, method="POST")
    host = _where(config["url"])
    try:
        with _NO_REDIRECTS.open(request, timeout=timeout) as response:
            response.read(MAX_RESPONSE)
            return f"HTTP {response.status} from {host}"
    except urllib.error.HTTPError as e:
        moved = (
            " (redirects are not followed: configure the final URL)" if 300 <= e.code < 400 else ""
        )
        raise DeliveryError(f"HTTP {e.code} from {host}{moved}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DeliveryError(f"{host}: {reason}") from None


class _RefuseRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 as a GET without the body and call the notice
    delivered; a redirect is reported as the failure it is instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirect)


def _smtp_password(config: dict[str, Any]) -> str:
    variable = config.get("password_env") or ""
    password = os.environ.get(variable) if variable else None
    if not password:
        # Logging in with an empty password would only earn a confusing refusal.
        raise DeliveryError(
            f"smtp {config['host']}: config.password_env names {variable or 'no variable'}, "
            "which is not set in the engine's environment"
        )
    return password


def _send_email(config: dict[str, Any], payload: dict[str, Any], key: str, timeout: float) -> str:
    msg = EmailMessage()
    msg["From"] = config["from"]
    msg["To"] = ", ".join(config["to"])
    # Titles come from alert annotations: a line break would end the header (and could add
    # others, such as Bcc), so the subject is kept to one line.
    msg["Subject"] = " ".join(payload["subject"].split())
    msg["Date"] = formatdate(usegmt=True)
    # The idempotency key as Message-ID lets mail systems drop a duplicate.
    msg["Message-ID"] = f"<{key}@opsengine>"
    msg.set_content(payload["body"])
    host, port = config["host"], config.get("port", 25)
    password = _smtp_password(config) if config.get("username") else None
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if config.get("starttls"):
                smtp.starttls()
            if password is not None:
                smtp.login(config["username"], password)
            refused = smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as e:
        raise DeliveryError(f"smtp {host}:{port}: {type(e).__name__}: {e}") from None
    if refused:
        raise DeliveryError(f"smtp {host}:{port}: refused {', '.join(sorted(refused))}")
    return f"accepted by {host}:{port} for {len(config['to'])} recipient(s)"
