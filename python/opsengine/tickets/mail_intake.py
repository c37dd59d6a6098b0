"""Tickets by e-mail: an SMTP listener (aiosmtpd) that turns mail sent to the desk into
tickets, and replies into comments on the ticket their subject names.

Off by default; ``[tickets] smtp_listen = "127.0.0.1:2525"`` turns it on in ``opsengine
run``. Put it behind the organisation's mail relay: it accepts what reaches it and does no
sender authentication of its own. A subject naming a ticket — ``[#42]`` or
``[Ticket #42]``, as in ``Re: [Ticket #42] VPN down`` — makes the mail a reply: from the
ticket's requester a public reply (reopening a pending or solved ticket), from anyone
else an internal note. Other mail, or mail naming a closed or unknown ticket, opens a new
ticket from the sender. A mail without a subject is refused (550) and nothing is stored;
attachments are kept as metadata (name, size, type, sha256).
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any

from opsengine.tickets.model import TicketError

log = logging.getLogger(__name__)

_TICKET_REF = re.compile(r"\[(?:ticket\s*)?#(\d{1,18})\]", re.IGNORECASE)
MAX_BODY_CHARS = 100_000


@dataclass(frozen=True)
class ParsedMail:
    subject: str
    sender_name: str | None
    sender: str
    body: str
    attachments: list[dict[str, Any]]
    ticket_ref: int | None


class MailRefused(TicketError):
    """A mail the desk will not take; the SMTP answer says why."""


def parse_mail(content: bytes, envelope_from: str | None = None) -> ParsedMail:
    msg = BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(msg, EmailMessage)
    subject = " ".join(str(msg.get("Subject") or "").split())
    if not subject:
        raise MailRefused("subject: a mail to the desk needs a subject")
    name, addr = parseaddr(str(msg.get("From") or ""))
    addr = addr or (envelope_from or "")
    if "@" not in addr:
        raise MailRefused("from: the mail names no sender address")
    part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if part is not None:
        try:
            body = part.get_content()
        except (LookupError, ValueError):  # an unknown charset: keep what decodes
            body = part.get_payload(decode=True).decode("utf-8", errors="replace")
        if part.get_content_type() == "text/html":
            body = _html_text(body)
    files = []
    for a in msg.iter_attachments():
        data = a.get_payload(decode=True) or b""
        files.append(
            {
                "name": (a.get_filename() or "attachment")[:255],
                "size": len(data),
                "type": a.get_content_type(),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    ref = _TICKET_REF.search(subject)
    return ParsedMail(
        subject=subject[:500],
        sender_name=name or None,
        sender=addr.lower(),
        body=body.strip()[:MAX_BODY_CHARS] or "(the mail had no text)",
        attachments=files[:50],
        ticket_ref=int(ref.group(1)) if ref else None,
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(" ".join(p.parts).split())


def take_mail(tickets: Any, mail: ParsedMail, *, queue: str | None = None) -> dict[str, Any]:
    """Store a parsed mail: a reply on the ticket it names, else a new ticket.
    Returns ``{"ticket": id, "created": bool}``."""
    if mail.ticket_ref is not None:
        try:
            t = tickets.get(mail.ticket_ref)
        except LookupError:
            t = None
        if t is not None and t["status"] != "closed":
            own = t["requester"]["email"] == mail.sender
            tickets.reply(
                t["id"], mail.body, actor=mail.sender, public=own, from_requester=own,
                via="email", attachments=mail.attachments,
            )  # fmt: skip
            return {"ticket": t["id"], "created": False}
    t = tickets.create(
        subject=mail.subject, description=mail.body,
        requester={"email": mail.sender, "name": mail.sender_name},
        queue=queue, actor=mail.sender, attachments=mail.attachments, source="email",
    )  # fmt: skip
    return {"ticket": t["id"], "created": True}


class _Handler:
    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            mail = parse_mail(envelope.content, envelope.mail_from)
            result = await asyncio.to_thread(take_mail, self.intake.tickets, mail,
                                             queue=self.intake.queue)  # fmt: skip
        except TicketError as e:
            self.intake.refused += 1
            return f"550 5.6.0 {_one_line(str(e))}"
        except Exception:
            self.intake.errors += 1
            log.exception("mail intake: storing a mail failed")
            return "451 4.3.0 the desk could not store the mail; try again later"
        self.intake.received += 1
        what = "opened" if result["created"] else "updated"
        return f"250 2.0.0 ticket #{result['ticket']} {what}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


class MailIntake:
    """The SMTP listener; ``start()`` binds it, ``stop()`` ends it."""

    def __init__(
        self,
        tickets: Any,
        host: str,
        port: int,
        *,
        max_bytes: int = 10 << 20,
        queue: str | None = None,
    ) -> None:
        self.tickets = tickets
        self.host, self.port = host, port
        self.max_bytes = max_bytes
        self.queue = queue
        self.received = self.refused = self.errors = 0
        self._controller = None

    @classmethod
    def from_settings(cls, tickets: Any, settings: Any) -> MailIntake:
        host, sep, port = settings.smtp_listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"[tickets] smtp_listen: expected host:port, got {settings.smtp_listen!r}"
            )
        return cls(tickets, host.strip("[]"), int(port), max_bytes=settings.smtp_max_bytes)

    def start(self) -> MailIntake:
        from aiosmtpd.controller import Controller

        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, data_size_limit=self.max_bytes
        )
        try:
            controller.start()
        except Exception as e:  # port taken, address not local: the other sources still run
            raise OSError(f"smtp_listen {self.host}:{self.port}: {e}") from None
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def status(self) -> dict[str, Any]:
        return {
            "where": f"smtp://{self.host}:{self.port}",
            "received": self.received,
            "refused": self.refused,
            "errors": self.errors,
        }
