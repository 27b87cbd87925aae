"""What one user.created event does, against a real PostgreSQL and SMTP server:
one welcome email, however often the event is delivered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage

import pytest
from devstack.ports import free_port
from devstack.smtp import SmtpServer
from email_service.handler import WelcomeHandler
from email_service.mailer import Mailer, MailNotSent
from email_service.repository import SentEmails
from micro import EventInfo
from shippy.user.v1 import events_pb2
from shippy_kit.postgres import DatabaseUnavailable

SENDER = "Shippy <welcome@shippy.local>"

NewUserEvent = Callable[..., events_pb2.UserCreated]


def info(event: events_pb2.UserCreated) -> EventInfo:
    """What the broker tells a handler about an event (its id travels in the headers too)."""
    return EventInfo(event.event_id, "user.created", "application/protobuf", {})


def mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == address]


@pytest.fixture
def handler(sent_emails: SentEmails, smtp_server: SmtpServer) -> WelcomeHandler:
    return WelcomeHandler(sent_emails, Mailer(smtp_server.host, smtp_server.port), sender=SENDER)


async def test_an_event_sends_one_welcome_email(
    handler: WelcomeHandler,
    sent_emails: SentEmails,
    smtp_server: SmtpServer,
    user_created: NewUserEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = user_created("Ada Lovelace")
    caplog.set_level("INFO", logger="email_service")

    await handler.on_user_created(event, info(event))

    [mail] = mails_to(smtp_server, event.email)
    assert mail["Subject"] == "Welcome to Shippy, Ada Lovelace"
    assert await sent_emails.is_mailed(event.event_id)
    assert f"welcome email sent to {event.email} for event {event.event_id}" in caplog.messages


async def test_the_same_event_delivered_twice_sends_one_email(
    handler: WelcomeHandler,
    smtp_server: SmtpServer,
    user_created: NewUserEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = user_created()
    caplog.set_level("INFO", logger="email_service")

    await handler.on_user_created(event, info(event))
    await handler.on_user_created(event, info(event))

    assert len(mails_to(smtp_server, event.email)) == 1
    assert f"event {event.event_id} already mailed, skipping" in caplog.messages


async def test_the_same_event_delivered_twice_at_once_sends_one_email(
    handler: WelcomeHandler, smtp_server: SmtpServer, user_created: NewUserEvent
) -> None:
    event = user_created()

    await asyncio.gather(
        handler.on_user_created(event, info(event)),
        handler.on_user_created(event, info(event)),
    )

    assert len(mails_to(smtp_server, event.email)) == 1


async def test_when_smtp_is_down_the_claim_is_released_for_a_retry(
    sent_emails: SentEmails,
    handler: WelcomeHandler,
    smtp_server: SmtpServer,
    user_created: NewUserEvent,
) -> None:
    event = user_created()
    down = WelcomeHandler(sent_emails, Mailer("127.0.0.1", free_port(), timeout=5), sender=SENDER)

    with pytest.raises(MailNotSent):
        await down.on_user_created(event, info(event))
    assert not await sent_emails.is_mailed(event.event_id)

    await handler.on_user_created(event, info(event))  # the redelivery, SMTP back up

    assert len(mails_to(smtp_server, event.email)) == 1
    assert await sent_emails.is_mailed(event.event_id)


async def test_the_event_id_of_the_headers_serves_when_the_event_has_none(
    handler: WelcomeHandler, sent_emails: SentEmails, user_created: NewUserEvent
) -> None:
    event = user_created()
    event.event_id = ""

    await handler.on_user_created(event, EventInfo("from-headers", "user.created", "", {}))

    assert await sent_emails.is_mailed("from-headers")


@pytest.mark.parametrize(
    ("email", "reason"), [("", "no email address"), ("ada", "'ada' is not an email address")]
)
async def test_an_event_without_a_usable_address_is_logged_and_dropped(
    handler: WelcomeHandler,
    sent_emails: SentEmails,
    user_created: NewUserEvent,
    caplog: pytest.LogCaptureFixture,
    email: str,
    reason: str,
) -> None:
    event = user_created()
    event.email = email

    await handler.on_user_created(event, info(event))  # no retry could help: no error raised

    assert f"dropped user.created event {event.event_id}: {reason}" in caplog.messages
    assert not await sent_emails.is_mailed(event.event_id)


class CommitFailsOnce(SentEmails):
    """The sent-mail log, whose first commit fails as a database that went away would."""

    def __init__(self, real: SentEmails) -> None:
        self._real = real
        self.failed = False

    @contextlib.asynccontextmanager
    async def claim(self, event_id: str, *, user_id: str, email: str) -> AsyncIterator[bool]:
        async with self._real.claim(event_id, user_id=user_id, email=email) as claimed:
            yield claimed
            if not self.failed:
                self.failed = True
                raise DatabaseUnavailable("connection lost at commit")


async def test_a_mail_sent_whose_record_failed_is_recorded_not_sent_again(
    sent_emails: SentEmails, smtp_server: SmtpServer, user_created: NewUserEvent
) -> None:
    log = CommitFailsOnce(sent_emails)
    handler = WelcomeHandler(log, Mailer(smtp_server.host, smtp_server.port), sender=SENDER)
    event = user_created()

    with pytest.raises(DatabaseUnavailable):
        await handler.on_user_created(event, info(event))
    await handler.on_user_created(event, info(event))  # JetStream delivers it again

    assert len(mails_to(smtp_server, event.email)) == 1
    assert await sent_emails.is_mailed(event.event_id)
