"""Core NATS through nats-py: at most once, and fast.

A message reaches every plain subscriber of its topic and one member of each
queue group. Handlers of one subscription run one after the other, in the
order the messages arrived, as nats-py runs its own callbacks; with
`max_in_flight=N` up to N run at once (they start in order, and may finish in
any order). Different subscriptions always run concurrently.

`unsubscribe()` and `disconnect()` drain: the server stops sending, messages
already received are handled, and running handlers finish before they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsPySubscription

from micro.broker import Message, MessageHandler, new_tuple
from micro.config import NO_LOGIN, NatsLogin, Options
from micro.errors import Unavailable
from micro.nats_client import connect
from micro.tasks import Tasks

__all__ = ["NatsBroker", "NatsSubscription"]

log = logging.getLogger(__name__)

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class NatsSubscription:
    """Turns nats-py messages into `Message`s and runs the handler on them."""

    def __init__(
        self,
        topic: str,
        queue: str | None,
        handler: MessageHandler,
        *,
        max_in_flight: int,
        on_close: Callable[[NatsSubscription], None],
    ) -> None:
        self.topic = topic
        self.queue = queue
        self._handler = handler
        self._on_close = on_close
        self._sub: NatsPySubscription | None = None
        # One in flight: nats-py's callback runs the handler itself. More: the
        # callback hands each message to a pool of workers, and waits while
        # all are busy, so that nats-py's limits on pending messages still hold.
        self._inbox: asyncio.Queue[Msg] | None = None
        self._workers = Tasks(f"nats broker: {topic}")
        if max_in_flight > 1:
            self._inbox = asyncio.Queue(maxsize=max_in_flight)
            for n in range(max_in_flight):
                self._workers.spawn(self._work(self._inbox), name=f"worker {n}")

    async def start(self, nc: Client) -> None:
        callback = self._handle if self._inbox is None else self._enqueue
        self._sub = await nc.subscribe(self.topic, queue=self.queue or "", cb=callback)

    async def unsubscribe(self) -> None:
        """Stop delivery; wait for the messages already received to be handled."""
        sub, self._sub = self._sub, None
        if sub is not None:
            self._on_close(self)
            # A closing or closed connection delivers nothing more: nothing to drain.
            with contextlib.suppress(nats.errors.Error):
                await sub.drain()  # type: ignore[no-untyped-call]
        await self._stop_workers()

    async def _handle(self, msg: Msg) -> None:
        try:
            await self._handler(
                new_tuple(Message, (msg.subject, msg.data, msg.headers or NO_HEADERS))
            )
        except Exception:
            log.exception("handler of topic %s raised", msg.subject)

    async def _enqueue(self, msg: Msg) -> None:
        assert self._inbox is not None
        await self._inbox.put(msg)

    async def _work(self, inbox: asyncio.Queue[Msg]) -> None:
        while True:
            msg = await inbox.get()
            try:
                await self._handle(msg)
            finally:
                inbox.task_done()

    async def _stop_workers(self) -> None:
        if self._inbox is not None:
            await self._inbox.join()
        await self._workers.aclose()


class NatsBroker:
    name = "nats"

    def __init__(self, url: str, *, login: NatsLogin = NO_LOGIN, max_in_flight: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, not {max_in_flight}")
        self.url = url
        self.login = login
        self.max_in_flight = max_in_flight
        self._nc: Client | None = None
        self._subscriptions: set[NatsSubscription] = set()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        if self._nc is None:
            self._nc = await connect(self.url, f"broker {self.name}", login=self.login)

    async def disconnect(self) -> None:
        nc, self._nc = self._nc, None
        subscriptions, self._subscriptions = self._subscriptions, set()
        await asyncio.gather(*(s.unsubscribe() for s in subscriptions))
        if nc is not None and not nc.is_closed:
            await nc.drain()

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        nc = self._nc
        if nc is None:
            raise Unavailable(f"broker {self.name} is not connected: call connect() first")
        if headers is not None and not isinstance(headers, dict):
            headers = dict(headers)
        await nc.publish(topic, data, headers=headers)

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> NatsSubscription:
        if self._nc is None:
            raise Unavailable(f"broker {self.name} is not connected: call connect() first")
        subscription = NatsSubscription(
            topic,
            queue,
            handler,
            max_in_flight=self.max_in_flight,
            on_close=self._subscriptions.discard,
        )
        await subscription.start(self._nc)
        self._subscriptions.add(subscription)
        return subscription


def from_options(options: Options) -> NatsBroker:
    """The "nats" plugin: core NATS at `options.nats_url`, at most once."""
    return NatsBroker(options.nats_url, login=options.nats_login)
