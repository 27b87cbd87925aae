"""A broker inside one process, for unit tests and single-process demos.

It behaves like core NATS: a message goes to every plain subscriber of its
topic and to one member of each queue group (round robin); topics may use the
NATS wildcards `*` (one token) and `>` (the rest). Each subscription has one
task that runs its handler for one message after the other, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator, Mapping

from micro.broker import Message, MessageHandler
from micro.config import Options
from micro.errors import Unavailable

__all__ = ["MemoryBroker", "MemorySubscription"]

log = logging.getLogger(__name__)


class MemorySubscription:
    """One subscriber: an inbox, and the task that hands its messages to the handler."""

    def __init__(
        self, broker: MemoryBroker, topic: str, handler: MessageHandler, queue: str | None
    ) -> None:
        self.topic = topic
        self.queue = queue
        self._broker = broker
        self._handler = handler
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._worker = asyncio.create_task(self._deliver_all(), name=f"memory broker: {topic}")
        self._closed = False

    def matches(self, topic: str) -> bool:
        return topic_matches(self.topic, topic)

    def deliver(self, message: Message) -> None:
        self._broker._pending += 1
        self._broker._idle.clear()
        self._inbox.put_nowait(message)

    async def unsubscribe(self) -> None:
        """Stop taking messages, finish the ones already delivered, then return."""
        if not self._closed:
            self._closed = True
            self._broker._forget(self)
            self._inbox.put_nowait(None)
        await self._worker  # cancelling this wait cancels the worker, too

    async def _deliver_all(self) -> None:
        while (message := await self._inbox.get()) is not None:
            try:
                await self._handler(message)
            except Exception:
                log.exception("handler of topic %s raised", message.topic)
            finally:
                self._broker._handled()


class MemoryBroker:
    name = "memory"

    def __init__(self) -> None:
        self._subscriptions: list[MemorySubscription] = []
        self._round_robin: dict[tuple[str, str], Iterator[int]] = {}
        self._connected = False
        self._pending = 0
        """Messages delivered to a subscription and not yet handled."""
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False
        await asyncio.gather(*(s.unsubscribe() for s in list(self._subscriptions)))

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self._check_connected()
        message = Message(topic, data, dict(headers) if headers else {})
        groups: dict[tuple[str, str], list[MemorySubscription]] = {}
        for subscription in self._subscriptions:
            if not subscription.matches(topic):
                continue
            if subscription.queue is None:
                subscription.deliver(message)
            else:
                groups.setdefault((subscription.topic, subscription.queue), []).append(subscription)
        for group, members in groups.items():
            turn = next(self._round_robin.setdefault(group, itertools.count()))
            members[turn % len(members)].deliver(message)

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> MemorySubscription:
        self._check_connected()
        subscription = MemorySubscription(self, topic, handler, queue)
        self._subscriptions.append(subscription)
        return subscription

    async def settle(self) -> None:
        """Wait until every message published so far has been handled,
        and those that handlers published in turn: for tests."""
        await self._idle.wait()

    def _handled(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    def _forget(self, subscription: MemorySubscription) -> None:
        self._subscriptions.remove(subscription)

    def _check_connected(self) -> None:
        if not self._connected:
            raise Unavailable("broker memory is not connected: call connect() first")


def topic_matches(pattern: str, topic: str) -> bool:
    """NATS subject matching: `*` matches one token, a final `>` one or more."""
    if pattern == topic:
        return True
    wanted, tokens = pattern.split("."), topic.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or (token != "*" and token != tokens[i]):
            return False
    return len(wanted) == len(tokens)


def from_options(options: Options) -> MemoryBroker:
    """The "memory" plugin: a broker of its own for each service that names it;
    to let services hear each other, pass them one `MemoryBroker` instance."""
    return MemoryBroker()
