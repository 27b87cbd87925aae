"""Wiring only: configuration, database pool, sent-mail log, mailer, handler, service."""

from __future__ import annotations

import logging
from typing import Unpack

from micro import Options, Service
from micro.service import Parts
from shippy_kit.postgres import connection_pool, serve_database
from shippy_kit.runner import run_service

from email_service import __version__
from email_service.config import Config, options_from_env
from email_service.handler import WelcomeHandler
from email_service.mailer import Mailer
from email_service.repository import SentEmails

SERVICE_NAME = "shippy.email"
TOPIC = "user.created"
QUEUE = SERVICE_NAME
"""One queue group for every replica: each event is handled by one of them."""

log = logging.getLogger("email_service")


def build_service(config: Config, options: Options, **parts: Unpack[Parts]) -> Service:
    """The service, from its configuration; `parts` (a registry, a broker, ...)
    replace the ones `options` name, as tests do with a `MemoryStack`'s."""
    pool = connection_pool(config.database_url, name="sent_emails", max_size=4, timeout=5.0)
    sent_emails = SentEmails(pool)
    mailer = Mailer(
        config.smtp_host,
        config.smtp_port,
        username=config.smtp_username,
        password=config.smtp_password,
        timeout=config.smtp_timeout,
    )
    handler = WelcomeHandler(sent_emails, mailer, sender=config.mail_from)
    service = Service(SERVICE_NAME, version=__version__, options=options, **parts)
    service.subscriber(TOPIC, queue=QUEUE)(handler.on_user_created)

    async def create_schema() -> None:
        await sent_emails.create_schema()
        log.info("mail goes to %s:%d", config.smtp_host, config.smtp_port)

    serve_database(service, pool, on_open=create_schema)
    return service


def main() -> None:
    run_service("email-service", lambda: build_service(Config.from_env(), options_from_env()))


if __name__ == "__main__":
    main()
