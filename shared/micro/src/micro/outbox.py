"""Events that must not be lost: a transactional outbox and its relay.

A handler that stores something and announces it must not lose the
announcement between the commit and the publish (a crash, a broker outage).
With an outbox, the event is written in the same database transaction as the
data, and a relay publishes it afterwards, for as long as it takes:

    outbox = PostgresOutbox(pool)                      # an `Outbox` (shippy_kit.outbox)
    created = service.publisher("user.created", UserCreated, outbox=outbox)

    async with repository.transaction():               # one commit for both
        user = await repository.create(...)
        await created.publish(UserCreated(...))        # a row, not a message, yet

The publisher is the same typed `Publisher`; only where it writes changes.
The service runs one `OutboxRelay` per outbox once its broker is connected:
it publishes the pending events in order, marks them published, waits for
new ones without polling (the outbox wakes it, e.g. by LISTEN/NOTIFY), and
while the broker is away it retries with a delay that doubles up to
`max_retry_delay`. Several instances may relay one outbox: an `Outbox`
hands each pending event to one relay at a time (`FOR UPDATE SKIP LOCKED`).
The event id travels as the `Micro-Id` header, which JetStream also takes
as `Nats-Msg-Id`: an event the relay publishes twice (it crashed between
the publish and the mark) is stored once, and consumers are idempotent
on the id anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, Mapping[str, str]], Awaitable[None]]
"""Publishes one event: (topic, data, headers); a broker's `publish`."""


class OutboxEvent(NamedTuple):
    id: str
    topic: str
    data: bytes
    headers: Mapping[str, str]


class Outbox(Protocol):
    async def publish(self, topic: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Write an event inside the caller's open transaction (it is sent after the commit)."""
        ...

    async def relay(self, send: Send, limit: int) -> int:
        """`send` up to `limit` pending events, oldest first, and mark them
        published; returns how many were sent. When `send` fails, the events
        sent before it are marked, the failed one stays pending, and the
        error is raised."""
        ...

    async def wait_for_new(self) -> None:
        """Return when an event may have been written since this was last called."""
        ...


class OutboxRelay:
    """Publishes an outbox's events through `send` until cancelled."""

    def __init__(
        self,
        outbox: Outbox,
        send: Send,
        *,
        batch: int = 100,
        first_retry_delay: float = 0.1,
        max_retry_delay: float = 30.0,
        idle_check: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.send = send
        self.batch = batch
        self.first_retry_delay = first_retry_delay
        self.max_retry_delay = max_retry_delay
        """The longest wait between two tries while the broker or database is away."""
        self.idle_check = idle_check
        """Seconds between two looks at an outbox that said nothing: a safety net
        for a wake-up that was missed (a reconnecting database, say)."""
        self.sent = 0
        """Events published since the relay started."""

    async def run(self) -> None:
        delay = self.first_retry_delay
        while True:
            try:
                sent = await self.outbox.relay(self.send, self.batch)
                self.sent += sent
                delay = self.first_retry_delay
                if sent < self.batch:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_check):
                            await self.outbox.wait_for_new()
            except Exception as error:  # the broker or the database is away: later
                log.warning("outbox relay: %s; trying again in %.1fs", _one_line(error), delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.max_retry_delay)


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
