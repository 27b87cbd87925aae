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
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsPySubscription

from micro.broker import Handler, Message
from micro.errors import Unavailable

__all__ = ["NatsBroker", "NatsSubscription"]

log = logging.getLogger(__name__)

STARTING: dict[str, Any] = {"max_reconnect_attempts": 2, "reconnect_time_wait": 0.5}
"""nats-py options while connecting: three tries within about a second."""
RUNNING: dict[str, Any] = {"max_reconnect_attempts": -1, "reconnect_time_wait": 2.0}
"""nats-py options once connected: reconnect for as long as it takes."""

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class NatsSubscription:
    """Turns nats-py messages into `Message`s and runs the handler on them."""

    def __init__(
        self,
        topic: str,
        queue: str | None,
        handler: Handler,
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
        self._workers: list[asyncio.Task[None]] = []
        if max_in_flight > 1:
            self._inbox = asyncio.Queue(maxsize=max_in_flight)
            self._workers = [
                asyncio.create_task(self._work(self._inbox), name=f"nats broker: {topic}")
                for _ in range(max_in_flight)
            ]

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
            await self._handler(Message(msg.subject, msg.data, msg.headers or NO_HEADERS))
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
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []


class NatsBroker:
    name = "nats"

    def __init__(self, url: str, *, max_in_flight: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, not {max_in_flight}")
        self.url = url
        self.max_in_flight = max_in_flight
        self._nc: Client | None = None
        self._subscriptions: set[NatsSubscription] = set()

    async def connect(self) -> None:
        if self._nc is None:
            self._nc = await connect_nats(self.url, self.name)

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
        self, topic: str, handler: Handler, queue: str | None = None
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


class FastHeaderClient(Client):
    """nats-py's client, with a header parser that gives the same results
    (a test compares them) in less than half the time: every event carries
    at least three headers, and nats-py's parser was the largest cost of
    receiving one."""

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        headers = {}
        for line in raw.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon and name.isascii():
                key = name.strip().decode()
                if not key or key.split() == [key]:  # a name holds no whitespace
                    headers[key] = value.strip().decode("utf-8", "replace")
        return headers


async def connect_nats(url: str, who: str) -> Client:
    """A nats-py connection that logs its trouble and, once up, reconnects for as
    long as it takes. Unavailable when no server answers at the start."""
    nc = FastHeaderClient()

    async def on_error(error: Exception) -> None:
        log.error("broker %s (%s): %s", who, url, error)

    async def on_disconnected() -> None:
        if not nc.is_closed:
            log.warning("broker %s: disconnected from %s, reconnecting", who, url)

    async def on_reconnected() -> None:
        log.info("broker %s: reconnected to %s", who, url)

    try:
        await nc.connect(
            url,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            **STARTING,
        )
    except (OSError, nats.errors.Error) as e:
        raise Unavailable(f"broker {who}: cannot connect to NATS at {url}: {e}") from e
    nc.options.update(RUNNING)  # nats-py reads them at each reconnection
    return nc
