"""A real SMTP server (aiosmtpd, in its own thread) that keeps every message it
receives as one `.eml` file.

    with SmtpServer(Path("var/mail")) as smtp:
        ...  # send mail to smtp.host:smtp.port
        welcome = smtp.wait_for_message(lambda m: m["To"] == "ada@example.com")
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import free_port
from devstack.waiting import wait_until

log = logging.getLogger("devstack.smtp")

MessagePredicate = Callable[[EmailMessage], bool]


class MailDirHandler:
    """aiosmtpd handler: writes each message to `mail_dir`, atomically.

    Names sort in arrival order: `<nanoseconds since epoch>-<sequence>.eml`.
    A message is first written under a hidden temporary name, then renamed,
    so a reader never sees half a message.
    """

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self._sequence = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.time_ns():020d}-{next(self._sequence):06d}.eml"
        temporary = self.mail_dir / f".{name}.tmp"
        temporary.write_bytes(content)
        os.replace(temporary, self.mail_dir / name)
        headers = BytesHeaderParser(policy=policy.default).parsebytes(content)
        log.info(
            "mail from %s to %s subject %r -> %s",
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            str(headers.get("Subject", "")),
            self.mail_dir / name,
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """An SMTP server on 127.0.0.1 that stores what it receives in `mail_dir`."""

    mail_dir: Path
    port: int = 0
    host: str = field(default="127.0.0.1", init=False)
    _controller: Controller | None = field(default=None, init=False, repr=False)

    def start(self) -> SmtpServer:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._controller = Controller(
            MailDirHandler(self.mail_dir),
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",  # skip a slow reverse DNS lookup
            enable_SMTPUTF8=True,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[Path]:
        """The stored messages, oldest first."""
        return sorted(self.mail_dir.glob("[!.]*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every stored message, parsed, oldest first."""
        return [read_message(path) for path in self.paths()]

    def wait_for_message(
        self, predicate: MessagePredicate = lambda _: True, timeout: float = 10.0
    ) -> EmailMessage:
        """The first stored message that satisfies `predicate`, waiting up to
        `timeout` seconds for it to arrive."""
        try:
            [message] = wait_until(
                lambda: [m for m in self.messages() if predicate(m)][:1],
                timeout,
                waiting_for="a matching mail",
            )
        except TimeoutError:
            seen = [f"to {m['To']!s} subject {m['Subject']!s}" for m in self.messages()]
            raise TimeoutError(
                f"no matching mail arrived in {self.mail_dir} within {timeout:g}s; "
                f"it holds {len(seen)}: {seen}"
            ) from None
        return message


def read_message(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())
