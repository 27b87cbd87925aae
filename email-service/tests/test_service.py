"""email-service as it runs: a micro Service subscribed to "user.created" in
the queue group "shippy.email", here on the in-process broker, with a real
PostgreSQL and a real SMTP server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from devstack.ports import free_port
from devstack.smtp import SmtpServer
from email_service.config import Config
from email_service.mailer import MailNotSent
from email_service.main import build_service
from micro import Options, Publisher, Service
from micro.testing import eventually
from shippy.user.v1 import events_pb2

OPTIONS = Options(registry="memory", broker="memory", server_address="127.0.0.1:0")

NewUserEvent = Callable[..., events_pb2.UserCreated]


def addressed_to(address: str) -> Callable[[EmailMessage], bool]:
    return lambda message: message["To"].addresses[0].addr_spec == address


async def wait_for_mail(smtp: SmtpServer, address: str) -> EmailMessage:
    """The first mail to `address`, waited for off the event loop, which the
    service needs meanwhile."""
    return await asyncio.to_thread(smtp.wait_for_message, addressed_to(address), 10)


@pytest.fixture
async def running(config: Config) -> AsyncIterator[Service]:
    service = build_service(config, OPTIONS)
    await service.start()
    yield service
    await service.stop()


def user_created_publisher(service: Service) -> Publisher[events_pb2.UserCreated]:
    """What user-service publishes with, on the broker this service listens to."""
    return Publisher("user.created", events_pb2.UserCreated, service.broker)


async def test_a_published_user_created_event_brings_a_welcome_email(
    running: Service, smtp_server: SmtpServer, user_created: NewUserEvent
) -> None:
    event = user_created("Grace Hopper", company="Navy")

    await user_created_publisher(running).publish(event)

    mail = await wait_for_mail(smtp_server, event.email)
    assert mail["Subject"] == "Welcome to Shippy, Grace Hopper"
    assert "Navy" in mail.get_content()


async def test_a_redelivered_event_sends_no_second_email(
    running: Service, smtp_server: SmtpServer, user_created: NewUserEvent
) -> None:
    publisher = user_created_publisher(running)
    first, later = user_created(), user_created()

    await publisher.publish(first)
    await publisher.publish(first)  # the same event (same event id) again
    await publisher.publish(later)
    await wait_for_mail(smtp_server, later.email)  # so both copies of `first` were handled

    assert len([m for m in smtp_server.messages() if addressed_to(first.email)(m)]) == 1


async def test_an_event_that_finds_smtp_down_is_mailed_when_it_comes_again(
    config: Config,
    tmp_path: Path,
    user_created: NewUserEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # no SMTP server there yet
    service = build_service(dataclasses.replace(config, smtp_port=port, smtp_timeout=5), OPTIONS)
    await service.start()
    try:
        publisher = user_created_publisher(service)
        event = user_created()

        await publisher.publish(event)
        await eventually(
            lambda: any(
                isinstance(r.exc_info and r.exc_info[1], MailNotSent) for r in caplog.records
            )
        )

        with SmtpServer(tmp_path / "mail", port=port) as smtp:
            await publisher.publish(event)  # as JetStream would deliver it again
            mail = await wait_for_mail(smtp, event.email)
    finally:
        await service.stop()

    assert mail["Subject"] == f"Welcome to Shippy, {event.name}"


async def test_a_megabyte_name_is_mailed_shortened_and_never_logged_whole(
    running: Service,
    smtp_server: SmtpServer,
    user_created: NewUserEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 8: a 20,000-character non-ASCII name held the event loop for
    15 s (header folding) and a 1 MB name wrote a 1 MB log line."""
    caplog.set_level("DEBUG")
    event = user_created("Ünïcødé " * 131_072, company="Ltd")  # about 1 MB
    event.email = "megabyte@example.com"

    await user_created_publisher(running).publish(event)

    mail = await wait_for_mail(smtp_server, event.email)
    assert len(mail["To"].addresses[0].display_name) < 1_000  # shortened, not 1 MB
    assert max(len(record.getMessage()) for record in caplog.records) < 2_000
