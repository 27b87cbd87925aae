"""Wiring only: configuration, database pool, sent-mail log, mailer, handler, service."""

from __future__ import annotations

import asyncio
import logging
import sys

from micro import Options, Service
from micro.config import ConfigError

from email_service import __version__
from email_service.config import Config
from email_service.handler import WelcomeHandler
from email_service.mailer import Mailer
from email_service.repository import (
    DatabaseUnavailable,
    SentEmails,
    connection_pool,
    open_pool,
)

SERVICE_NAME = "shippy.email"
TOPIC = "user.created"
QUEUE = SERVICE_NAME
"""One queue group for every replica: each event is handled by one of them."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONNECT_TIMEOUT = 10.0
"""Seconds the service waits for the database when it starts."""

log = logging.getLogger("email_service")


def build_service(config: Config, options: Options) -> Service:
    pool = connection_pool(config.database_url)
    sent_emails = SentEmails(pool)
    mailer = Mailer(
        config.smtp_host,
        config.smtp_port,
        username=config.smtp_username,
        password=config.smtp_password,
        timeout=config.smtp_timeout,
    )
    handler = WelcomeHandler(sent_emails, mailer, sender=config.mail_from)
    service = Service(SERVICE_NAME, version=__version__, options=options)
    service.subscriber(TOPIC, queue=QUEUE)(handler.on_user_created)

    @service.before_start
    async def open_database() -> None:
        await open_pool(pool, connect_timeout=CONNECT_TIMEOUT)
        await sent_emails.create_schema()
        log.info("database ready; mail goes to %s:%d", config.smtp_host, config.smtp_port)

    @service.after_stop
    async def close_database() -> None:
        await pool.close()

    return service


def main() -> None:
    try:
        config = Config.from_env()
        options = Options.from_env()
    except ConfigError as error:
        print(f"email-service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        asyncio.run(build_service(config, options).run())
    except DatabaseUnavailable as error:
        print(f"email-service: database unavailable: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
