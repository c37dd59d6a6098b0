"""Mail to the desk through a real aiosmtpd server on 127.0.0.1 and smtplib: a new mail
opens a ticket, a reply naming it lands on it, a mail without a subject is refused."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from opsengine.engine import Engine
from opsengine.tickets.mail_intake import MailIntake

from tests.support.incidents_helpers import free_port


@pytest.fixture
def desk(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        intake = MailIntake(engine.tickets, "127.0.0.1", free_port()).start()
        try:
            yield engine, intake
        finally:
            intake.stop()


def send(intake: MailIntake, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", intake.port, timeout=30) as smtp:
        smtp.send_message(msg)


def mail(sender: str, subject: str | None, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "desk@example.com"
    if subject is not None:
        msg["Subject"] = subject
    msg.set_content(text)
    return msg


def test_new_mail_opens_a_ticket_and_a_reply_lands_on_it(desk):
    engine, intake = desk
    first = mail("Grace Hopper <grace@example.com>", "Wi-Fi drops every hour", "On floor 3.")
    first.add_attachment(b"ping log\n" * 10, maintype="text", subtype="plain",
                         filename="ping.txt")  # fmt: skip
    send(intake, first)
    [t] = engine.tickets.list()
    assert t["subject"] == "Wi-Fi drops every hour"
    assert t["requester"] == {"name": "Grace Hopper", "email": "grace@example.com"}
    assert t["source"] == "email" and t["status"] == "new"
    ticket = engine.tickets.get(t["id"])
    assert ticket["description"] == "On floor 3."
    [att] = ticket["attachments"]
    assert (att["name"], att["size"], att["type"]) == ("ping.txt", 90, "text/plain")

    engine.tickets.reply(t["id"], "Which access point?", actor="op")
    engine.tickets.set_status(t["id"], "pending", actor="op")
    send(intake, mail("grace@example.com", f"Re: [Ticket #{t['id']}] Wi-Fi drops", "AP-3-North"))
    # Someone else's mail naming the ticket becomes an internal note, not her reply.
    send(intake, mail("mallory@example.com", f"Re: [#{t['id']}] Wi-Fi", "close it"))

    ticket = engine.tickets.get(t["id"])
    assert ticket["status"] == "open"  # the requester answered: the clock runs again
    replies = [(c["author"], c["public"], c["body"], c["via"]) for c in ticket["comments"]]
    assert replies[1:] == [
        ("grace@example.com", True, "AP-3-North", "email"),
        ("mallory@example.com", False, "close it", "email"),
    ]
    assert len(engine.tickets.list()) == 1
    assert intake.status()["received"] == 3


def test_a_mail_without_a_subject_is_refused_and_nothing_is_stored(desk):
    engine, intake = desk
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake, mail("grace@example.com", None, "no subject here"))
    assert refused.value.smtp_code == 550
    assert b"subject" in refused.value.smtp_error
    assert engine.tickets.list() == []
    assert intake.status()["refused"] == 1


def test_opsengine_run_starts_the_intake_when_configured(tmp_path):
    from opsengine.config import Settings
    from opsengine.sources.runner import start_sources

    settings = Settings()
    settings.files.enabled = settings.syslog.enabled = settings.host.enabled = False
    assert settings.tickets.smtp_listen == ""  # off by default
    settings.tickets.smtp_listen = f"127.0.0.1:{free_port()}"
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        running = start_sources(engine, settings)
        try:
            intake = running.sources["smtp_intake"]
            send(intake, mail("ann@example.com", "Badge does not open door 4", "since Monday"))
            assert [t["subject"] for t in engine.tickets.list()] == ["Badge does not open door 4"]
            assert (
                running.status()["smtp_intake"]["where"] == f"smtp://{settings.tickets.smtp_listen}"
            )
        finally:
            running.stop()
