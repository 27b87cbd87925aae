"""What the fault tests share: sign-ups straight at user-service, the mail
that arrived, a wait until the event pipeline is quiet, and the table of
figures printed at the end of the run.

Sign-ups go to user-service's address, not through the registry: the
registry lives on NATS, and these tests take NATS away.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import grpc
import grpc.aio
import nats
import nats.errors
import psycopg
from devstack.stack import LocalStack
from micro.testing import eventually
from shippy.user.v1 import user_pb2, user_pb2_grpc

PASSWORD = "correct horse battery"


@dataclass
class Signups:
    """Creates users with emails `<prefix>-<n>@example.com`, `concurrency`
    calls at a time, each at the user-service `address()` gives at the time."""

    address: Callable[[], str]
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    concurrency: int = 8
    deadline: float = 5.0
    """Seconds each call may take."""
    created: list[str] = field(default_factory=list)
    """Emails of the users whose Create answered OK."""
    refused: Counter[str] = field(default_factory=Counter)
    """Status codes of the calls that did not answer OK."""

    def email(self, n: int) -> str:
        return f"{self.prefix}-{n}@example.com"

    async def run(self, count: int, *, start: int = 0) -> None:
        """Create users `start` .. `start + count - 1`; a call that fails is
        counted in `refused` and not tried again."""
        numbers = iter(range(start, start + count))
        channels: dict[str, grpc.aio.Channel] = {}

        async def worker() -> None:
            for n in numbers:
                address = self.address()
                channel = channels.get(address)
                if channel is None:
                    channel = channels[address] = grpc.aio.insecure_channel(address)
                users = user_pb2_grpc.UserServiceStub(channel)
                request = user_pb2.CreateRequest(
                    name=f"User {n}", email=self.email(n), company="Faults", password=PASSWORD
                )
                try:
                    await users.Create(request, timeout=self.deadline)
                except grpc.aio.AioRpcError as error:
                    self.refused[error.code().name] += 1
                else:
                    self.created.append(self.email(n))

        try:
            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        finally:
            for channel in channels.values():
                await channel.close()

    async def until_created(self, count: int, within: float = 60.0) -> None:
        """Wait until `count` users were created (by a `run` going on meanwhile)."""
        await eventually(
            lambda: len(self.created) >= count, within, waiting_for=f"{count} users created"
        )


@dataclass(frozen=True)
class Mail:
    """What arrived for the users of a test: deliveries, and distinct
    messages (by Message-ID, as a mail client shows them) per address."""

    deliveries: Counter[str]
    messages: Counter[str]


class Mailbox:
    """The messages in a mail directory, by recipient; read incrementally."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self._seen: dict[Path, tuple[str, str]] = {}
        self._parser = BytesHeaderParser()

    def _read(self) -> None:
        for path in self.mail_dir.glob("[!.]*.eml"):
            if path not in self._seen:
                headers = self._parser.parsebytes(path.read_bytes())
                to = str(headers["To"]).rpartition("<")[2].rstrip(">").strip()
                self._seen[path] = (to, str(headers["Message-ID"]))

    def count_for(self, emails: list[str]) -> Mail:
        self._read()
        wanted = set(emails)
        mine = [(to, mid) for to, mid in self._seen.values() if to in wanted]
        return Mail(Counter(to for to, _ in mine), Counter(to for to, _ in set(mine)))


async def pipeline_is_quiet(nats_url: str, database_url: str) -> bool:
    """Nothing left to deliver: the outbox is empty and every consumer of
    `user.created` has nothing pending and nothing awaiting an ack."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT count(*) FROM micro_outbox WHERE published_at IS NULL")
        row = await cursor.fetchone()
    if row is None or row[0]:
        return False
    nc = await nats.connect(nats_url.split(","), allow_reconnect=False, connect_timeout=2)
    try:
        jsm = nc.jsm()
        stream = await jsm.find_stream_name_by_subject("user.created")
        consumers = await jsm.consumers_info(stream)
    except nats.errors.TimeoutError:
        return False  # a cluster still electing a new leader answers no JetStream request yet
    finally:
        await nc.close()
    return all(c.num_pending == 0 and c.num_ack_pending == 0 for c in consumers)


async def every_user_mailed(stack: LocalStack, signups: Signups, within: float = 120.0) -> Mail:
    """Wait until each created user has mail and the pipeline is quiet (so a
    duplicate on its way would have arrived); returns the mail per user."""
    assert stack.mail_dir is not None
    mailbox = Mailbox(stack.mail_dir)
    await eventually(
        lambda: len(mailbox.count_for(signups.created).messages) == len(signups.created),
        within,
        waiting_for="a welcome email for every user created",
    )
    await eventually(
        lambda: pipeline_is_quiet(stack.nats_url, stack.database_url("user-service")),
        within,
        waiting_for="the outbox and the email consumer to have nothing pending",
    )
    return mailbox.count_for(signups.created)


@dataclass
class Figure:
    fault: str
    created: int
    mailed_once: int
    """Users who got exactly one message (one Message-ID)."""
    lost: int
    doubled: int
    """Users to whom the SMTP server took a message more than once."""
    seconds: float


FIGURES: list[Figure] = []


def record(fault: str, signups: Signups, mail: Mail, started: float) -> Figure:
    figure = Figure(
        fault=fault,
        created=len(signups.created),
        mailed_once=sum(1 for email in signups.created if mail.messages[email] == 1),
        lost=sum(1 for email in signups.created if mail.messages[email] == 0),
        doubled=sum(1 for email in signups.created if mail.deliveries[email] > 1),
        seconds=time.monotonic() - started,
    )
    FIGURES.append(figure)
    return figure


def figures_table() -> str:
    rows = [
        "| fault | created | mailed once | lost | doubled | seconds |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {f.fault} | {f.created} | {f.mailed_once} | {f.lost} | {f.doubled} "
            f"| {f.seconds:.1f} |"
            for f in FIGURES
        ),
    ]
    return "\n".join(rows)
