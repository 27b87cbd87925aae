"""The welcome email: what it says, and its way to a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from devstack.ports import free_port
from devstack.smtp import SmtpServer
from email_service.mailer import (
    EVENT_ID_HEADER,
    MAX_NAME,
    InvalidRecipient,
    Mailer,
    MailNotSent,
    render_welcome,
)
from shippy.user.v1 import events_pb2

SENDER = "Shippy <welcome@shippy.local>"

NewUserEvent = Callable[..., events_pb2.UserCreated]


def test_the_welcome_email_greets_the_user_by_name(user_created: NewUserEvent) -> None:
    event = user_created("Ada Lovelace", company="Analytical Engines")

    message = render_welcome(event, sender=SENDER)

    assert message["Subject"] == "Welcome to Shippy, Ada Lovelace"
    assert message["To"].addresses[0].addr_spec == event.email
    assert message["To"].addresses[0].display_name == "Ada Lovelace"
    assert message["From"] == SENDER
    assert message[EVENT_ID_HEADER] == event.event_id
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "Hello Ada Lovelace," in body
    assert "Analytical Engines" in body
    assert f"user-cli login --email {event.email}" in body


def test_a_name_cannot_add_header_lines(user_created: NewUserEvent) -> None:
    event = user_created("Mallory\r\nBcc: everyone@example.com")

    message = render_welcome(event, sender=SENDER)

    assert message["Subject"] == "Welcome to Shippy, Mallory Bcc: everyone@example.com"
    assert message["Bcc"] is None


def test_a_user_without_a_company_still_reads_well(user_created: NewUserEvent) -> None:
    message = render_welcome(user_created("Grace Hopper", company=""), sender=SENDER)

    assert "your company can now ship with us" in message.get_content()


async def test_the_mailer_delivers_to_the_smtp_server(
    user_created: NewUserEvent, smtp_server: SmtpServer
) -> None:
    event = user_created()
    mailer = Mailer(smtp_server.host, smtp_server.port)

    await mailer.send(render_welcome(event, sender=SENDER))

    [received] = [m for m in smtp_server.messages() if m[EVENT_ID_HEADER] == event.event_id]
    assert received["Subject"] == f"Welcome to Shippy, {event.name}"
    assert event.company in received.get_content()


async def test_an_unreachable_smtp_server_is_a_clear_error(user_created: NewUserEvent) -> None:
    port = free_port()  # nothing listens there
    mailer = Mailer("127.0.0.1", port, timeout=5)

    with pytest.raises(MailNotSent, match=f"through SMTP server 127.0.0.1:{port}"):
        await mailer.send(render_welcome(user_created(), sender=SENDER))


def test_a_huge_name_is_shortened_before_it_reaches_a_header(user_created: NewUserEvent) -> None:
    """Folding a header of a 20,000-character non-ASCII name held the event
    loop for 15 s; the mail now carries at most MAX_NAME characters of it."""
    event = user_created("Ünïcødé " * 2_500, company="Ltd " * 5_000)
    event.email = "unicode@example.com"

    message = render_welcome(event, sender=SENDER)

    assert message["To"].addresses[0].display_name.endswith("…")
    assert len(message["To"].addresses[0].display_name) == MAX_NAME
    assert len(message["Subject"]) < MAX_NAME + 30
    assert len(message.get_content()) < 2 * MAX_NAME + 1_000


def test_an_address_longer_than_smtp_carries_is_refused(user_created: NewUserEvent) -> None:
    event = user_created()
    event.email = "a" * 250 + "@example.com"

    with pytest.raises(InvalidRecipient, match="too long"):
        render_welcome(event, sender=SENDER)
