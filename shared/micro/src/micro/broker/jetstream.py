"""NATS JetStream: at least once.

Publishing stores the message in a stream and waits for the server's
acknowledgement. A topic that no stream covers gets one, named after the
topic ("user.created" -> "MICRO_user_created"), so neither side has to set
streams up beforehand.

A subscriber in a queue group reads through a durable consumer named after
the group: each message is handled once per group, the group resumes where
it stopped after a restart, and a group that subscribes for the first time
starts from the beginning of the stream. A subscriber without a group gets an
ephemeral consumer that starts with the next message. A message is acked
once its handler returns; when the handler raises, it is delivered again,
after a delay that doubles with each attempt (0.1 s, 0.2 s, ... at most 30 s).
Topics must be literal here (no `*` or `>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, JetStreamManager
from nats.js.api import ConsumerConfig, DeliverPolicy

from micro.broker import Message, MessageHandler
from micro.broker.nats import NO_HEADERS
from micro.config import Options
from micro.errors import Unavailable
from micro.nats_client import connect

__all__ = ["JetStreamBroker", "JetStreamSubscription", "stream_name"]

log = logging.getLogger(__name__)

FIRST_REDELIVERY_DELAY = 0.1
MAX_REDELIVERY_DELAY = 30.0
STREAM_NAME_IN_USE = 10058  # JetStream's err_code: the name exists with other settings


class JetStreamSubscription:
    def __init__(
        self,
        topic: str,
        queue: str | None,
        handler: MessageHandler,
        on_close: Callable[[JetStreamSubscription], None],
    ) -> None:
        self.topic = topic
        self.queue = queue
        self._handler = handler
        self._on_close = on_close
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self, js: JetStreamContext, stream: str) -> None:
        if self.queue:
            durable = consumer_name(self.queue)
            self._sub = await js.subscribe(
                self.topic,
                queue=durable,
                cb=self._handle,
                stream=stream,
                manual_ack=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
        else:
            self._sub = await js.subscribe(
                self.topic,
                cb=self._handle,
                stream=stream,
                manual_ack=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            )

    async def unsubscribe(self) -> None:
        """Stop delivery; wait for the messages already received to be handled."""
        sub, self._sub = self._sub, None
        if sub is not None:
            self._on_close(self)
            # A closing or closed connection delivers nothing more: nothing to drain.
            with contextlib.suppress(nats.errors.Error):
                await sub.drain()  # type: ignore[no-untyped-call]

    async def _handle(self, msg: Msg) -> None:
        try:
            await self._handler(Message(msg.subject, msg.data, msg.headers or NO_HEADERS))
        except Exception:
            attempt = msg.metadata.num_delivered
            delay = min(FIRST_REDELIVERY_DELAY * 2 ** (attempt - 1), MAX_REDELIVERY_DELAY)
            log.exception(
                "handler of topic %s raised (attempt %d); delivering again in %.1f s",
                msg.subject,
                attempt,
                delay,
            )
            await msg.nak(delay=delay)
        else:
            await msg.ack()


class JetStreamBroker:
    name = "jetstream"

    def __init__(self, url: str, *, stream_prefix: str = "MICRO") -> None:
        self.url = url
        self.stream_prefix = stream_prefix
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._jsm: JetStreamManager | None = None
        self._streams: dict[str, str] = {}  # topic -> the stream that stores it
        self._subscriptions: set[JetStreamSubscription] = set()

    async def connect(self) -> None:
        if self._nc is None:
            self._nc = await connect(self.url, f"broker {self.name}")
            self._js, self._jsm = self._nc.jetstream(), self._nc.jsm()

    async def disconnect(self) -> None:
        nc, self._nc, self._js, self._jsm = self._nc, None, None, None
        subscriptions, self._subscriptions = self._subscriptions, set()
        await asyncio.gather(*(s.unsubscribe() for s in subscriptions))
        self._streams.clear()
        if nc is not None and not nc.is_closed:
            await nc.drain()

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        js, jsm = self._connected()
        headers = None if headers is None else dict(headers)
        await self._stream_for(topic, jsm)
        try:
            await js.publish(topic, data, headers=headers)
        except nats.js.errors.NoStreamResponseError:
            del self._streams[topic]  # deleted since we looked: create it again
            await self._stream_for(topic, jsm)
            await js.publish(topic, data, headers=headers)

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> JetStreamSubscription:
        js, jsm = self._connected()
        subscription = JetStreamSubscription(topic, queue, handler, self._subscriptions.discard)
        await subscription.start(js, await self._stream_for(topic, jsm))
        self._subscriptions.add(subscription)
        return subscription

    async def _stream_for(self, topic: str, jsm: JetStreamManager) -> str:
        """The stream that stores `topic`, created or extended if there is none."""
        stream = self._streams.get(topic)
        if stream is None:
            stream = await ensure_stream(jsm, stream_name(self.stream_prefix, topic), topic)
            self._streams[topic] = stream
        return stream

    def _connected(self) -> tuple[JetStreamContext, JetStreamManager]:
        if self._js is None or self._jsm is None:
            raise Unavailable(f"broker {self.name} is not connected: call connect() first")
        return self._js, self._jsm


async def ensure_stream(jsm: JetStreamManager, name: str, topic: str) -> str:
    """The name of a stream that covers `topic`: one that already does, else
    stream `name`, created for it or (when it holds other topics) extended."""
    with contextlib.suppress(nats.js.errors.NotFoundError):
        return await jsm.find_stream_name_by_subject(topic)
    try:
        await jsm.add_stream(name=name, subjects=[topic])
    except nats.js.errors.BadRequestError as e:
        if e.err_code != STREAM_NAME_IN_USE:
            raise
        config = (await jsm.stream_info(name)).config
        await jsm.update_stream(config.evolve(subjects=[*(config.subjects or []), topic]))
    return name


def stream_name(prefix: str, topic: str) -> str:
    """ "user.created" -> "MICRO_user_created": a stream name cannot hold dots."""
    return f"{prefix}_{consumer_name(topic)}"


def consumer_name(name: str) -> str:
    """`name` with the characters JetStream refuses in names replaced by "_"."""
    return re.sub(r"[^\w-]", "_", name)


def from_options(options: Options) -> JetStreamBroker:
    """The "jetstream" plugin, on the NATS server at `options.nats_url`."""
    return JetStreamBroker(options.nats_url)
