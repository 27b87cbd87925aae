"""The welcome email: what it says (a `string.Template`) and how it leaves (SMTP)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from string import Template

import aiosmtplib
from shippy.user.v1 import events_pb2

EVENT_ID_HEADER = "X-Shippy-Event-Id"

WELCOME_SUBJECT = Template("Welcome to Shippy, $name")

WELCOME_BODY = Template("""\
Hello $name,

welcome to Shippy! Your account is ready, and $company can now ship with us.

Log in to get a token:

    user-cli login --email $email

then ship your first consignment with it:

    consignment-cli create consignment.json --token "$$TOKEN"

Happy shipping,
the Shippy team
""")


MAX_NAME = 200
"""Characters of a name or company the mail shows; the rest is cut ("…").
user-service allows less, but an event may come from anywhere: folding a
header of a 20,000-character name took the event loop 15 s."""
MAX_ADDRESS = 254
"""The longest address SMTP carries (RFC 5321's path limit, less the brackets)."""


class MailNotSent(Exception):
    """The SMTP server could not be reached or refused the message."""


class InvalidRecipient(ValueError):
    """The user's email address is not one mail can be sent to."""


def render_welcome(
    event: events_pb2.UserCreated, *, sender: str, event_id: str | None = None
) -> EmailMessage:
    """The welcome email for a new user, as plain text.

    `event_id` (the event's own by default) goes in a header, for tracing.
    Raises `InvalidRecipient` when the event's address cannot take mail."""
    recipient = _recipient(event)
    name = recipient.display_name
    fields = {
        "name": name,
        "company": shortened(_one_line(event.company)) or "your company",
        "email": event.email,
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = WELCOME_SUBJECT.substitute(fields)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = _message_id(event_id or event.event_id, _domain(sender))
    message[EVENT_ID_HEADER] = event_id or event.event_id
    message.set_content(WELCOME_BODY.substitute(fields))
    return message


class Mailer:
    """Sends messages to one SMTP server, logging in when given a username."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        """Connect, send `message`, and say goodbye."""
        async with self.session() as session:
            await session.send(message)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """One SMTP conversation: what happens between `session.send()` and the
        end of the block (recording that the mail went out, say) happens before
        the goodbye, as soon as the server has accepted the message."""
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            raise self._not_sent("any mail", error) from error
        try:
            yield Session(self, smtp)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()  # the message is accepted already: a failed goodbye is fine

    def _not_sent(self, what: object, error: Exception) -> MailNotSent:
        return MailNotSent(
            f"could not send {what} through SMTP server {self.host}:{self.port}: {error}"
        )


class Session:
    def __init__(self, mailer: Mailer, smtp: aiosmtplib.SMTP) -> None:
        self._mailer = mailer
        self._smtp = smtp

    async def send(self, message: EmailMessage) -> None:
        try:
            await self._smtp.send_message(message)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise self._mailer._not_sent(f"mail to {message['To']}", error) from error


def _recipient(event: events_pb2.UserCreated) -> Address:
    if not event.email:
        raise InvalidRecipient("no email address")
    if len(event.email) > MAX_ADDRESS:
        raise InvalidRecipient(f"an address of {len(event.email)} characters is too long")
    try:
        name = shortened(_one_line(event.name))
        return Address(display_name=name or event.email, addr_spec=event.email)
    except (ValueError, HeaderParseError):
        raise InvalidRecipient(f"{event.email!r} is not an email address") from None


def shortened(text: str, limit: int = MAX_NAME) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    """Collapses whitespace, so that a name cannot add lines to a header."""
    return " ".join(text.split())


def _message_id(event_id: str, domain: str) -> str:
    """One Message-ID per event: should a copy ever go out twice (the process
    died after the server took it, before it was recorded), mail clients see
    the same message, not two."""
    if event_id and all(c.isalnum() or c in "-._" for c in event_id):
        return f"<{event_id}@{domain}>"
    return make_msgid(domain=domain)


def _domain(mailbox: str) -> str:
    _, address = parseaddr(mailbox)
    return address.rpartition("@")[2] or "shippy.local"
