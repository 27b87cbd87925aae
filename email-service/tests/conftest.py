"""Fixtures for email-service tests: a real PostgreSQL database per test
(`database_url`) and a real SMTP server (`smtp_server`), both from devstack;
the sent-mail log on that database; and new users' events."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from devstack.smtp import SmtpServer
from email_service.config import Config
from email_service.repository import SentEmails
from shippy.user.v1 import events_pb2
from shippy_kit.postgres import Pool

NewUserEvent = Callable[..., events_pb2.UserCreated]


@pytest.fixture
def user_created() -> NewUserEvent:
    """Makes the event of a new user. Each address is new, so that no other
    message on the session's SMTP server is ever mistaken for this one's."""

    def make(
        name: str = "Ada Lovelace", company: str = "Analytical Engines"
    ) -> events_pb2.UserCreated:
        event = events_pb2.UserCreated(
            event_id=uuid.uuid4().hex,
            user_id=str(uuid.uuid4()),
            name=name,
            email=f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.com",
            company=company,
        )
        event.occurred_at.GetCurrentTime()
        return event

    return make


@pytest.fixture
async def sent_emails(database_pool: Pool) -> SentEmails:
    sent_emails = SentEmails(database_pool)
    await sent_emails.create_schema()
    return sent_emails


@pytest.fixture
def config(database_url: str, smtp_server: SmtpServer) -> Config:
    return Config.from_env(
        {
            "DATABASE_URL": database_url,
            "SMTP_HOST": smtp_server.host,
            "SMTP_PORT": str(smtp_server.port),
        }
    )
