"""Notification channels: where a notice goes (webhook, Slack-compatible webhook, SMTP e-mail).

A channel is stored without secrets: an SMTP password is read at send time from the
environment variable the channel names (``password_env``), and listings show webhook URLs
only up to their host, since Slack-style URLs carry their token in the path.

Webhook secrets (header values, the URL's path and query) are checked when a channel is
saved — no control characters, no spaces, no ``user:pass@`` — so that no send fails with
an error quoting them; and every error that reaches a listing or the log goes through
:func:`scrub`, which replaces each secret of the channel by ``…`` all the same.

:func:`render` turns an incident notice into the channel's payload (stored with the
notification before the first try, so every retry sends the same bytes); :func:`send`
delivers it and raises :class:`DeliveryError` on any failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
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


# RFC 9110 field names are tokens; values are visible ASCII, spaces, tabs and obs-text.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_URL_CHAR = re.compile(r"[\x00-\x20\x7f]")
# Secrets shorter than this are not searched for (they would blank common words).
_MIN_SECRET = 4
_URL = re.compile(r"(?i)\bhttps?://[^\s'\"<>]+")


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
        _check_url(name, config.get("url"))
        headers = config.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ChannelError(f"channel {name}: config.headers must map names to strings")
        for header, value in headers.items():
            if not _HEADER_NAME.match(header):
                raise ChannelError(
                    f"channel {name}: config.headers: {_printable(header)!r} is not a header name"
                )
            if _BAD_HEADER_VALUE.search(value) or value != value.strip():
                # The value is a secret: named by its header, never quoted.
                raise ChannelError(
                    f"channel {name}: config.headers.{header}: the value holds a line break, "
                    "a control character or surrounding spaces"
                )
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


def _check_url(name: str, url: Any) -> None:
    """An http(s) URL with a host, nothing a sender would have to escape, no credentials."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(f"channel {name}: config.url must be an http(s) URL")
    if _BAD_URL_CHAR.search(url):
        # The path may hold the token: the URL is not quoted back.
        raise ChannelError(
            f"channel {name}: config.url holds a space or control character; "
            "percent-encode it (%20)"
        )
    if parts.username is not None or parts.password is not None:
        raise ChannelError(
            f"channel {name}: config.url must not carry user:password@; send credentials "
            "in config.headers (Authorization)"
        )
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ChannelError(f"channel {name}: config.url has an invalid port") from None


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:64]


def secrets_of(config: dict[str, Any]) -> list[str]:
    """The strings of a channel config that must never be shown: header values, the URL's
    path, query, fragment and credentials, the SMTP username."""
    found = [v for v in (config.get("headers") or {}).values() if isinstance(v, str)]
    url = config.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        found += [url, parts.path, parts.query, parts.fragment]
        found += [parts.username or "", parts.password or ""]
        found += [p for p in parts.path.split("/") if p]
    if isinstance(config.get("username"), str):
        found.append(config["username"])
    return sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def scrub(text: str | None, config: dict[str, Any] | None = None) -> str | None:
    """``text`` (an error message) with the channel's secrets and any URL's path removed.

    Python's errors quote what they refuse (``Invalid header value b'Bearer …'``, ``URL
    can't contain control characters. '/T0/B0/xoxb…'``); whatever quoted it, it goes.
    """
    if not text:
        return text
    for secret in secrets_of(config or {}):
        text = text.replace(secret, "…")
        text = text.replace(repr(secret.encode())[2:-1], "…")  # quoted as bytes
    return _URL.sub(lambda m: f"{urlsplit(m.group()).scheme}://{_where(m.group())}/…", text)


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
    host = _where(config["url"])
    try:
        request = urllib.request.Request(config["url"], data=body, headers=headers, method="POST")
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
        raise DeliveryError(scrub(f"{host}: {reason}", config)) from None
    except (ValueError, http.client.HTTPException) as e:
        # A channel saved before header values and URLs were checked; the message would
        # quote the value or the path it refuses.
        raise DeliveryError(scrub(f"{host}: {type(e).__name__}: {e}", config)) from None


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
