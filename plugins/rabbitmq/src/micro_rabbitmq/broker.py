"""A RabbitMQ broker through aio-pika: at least once for queue groups.

    broker = RabbitMqBroker("amqp://guest:guest@127.0.0.1:5672/")   # MICRO_BROKER=rabbitmq

- Every message goes to one durable topic exchange (`micro` unless told
  otherwise), with the topic as its routing key; `*` matches one token and
  NATS's `>` becomes AMQP's `#` (which also matches no token at all).
- `publish()` returns once the server confirmed the message (publisher
  confirms); a message is persistent, and its headers are AMQP headers.
- A queue group is one durable quorum queue, `<exchange>:<group>:<topic>`,
  bound to the exchange: its members take turns, and it keeps messages while
  no member runs. A message is acknowledged after its handler returned; one
  whose handler raised is delivered again, and after `max_deliver` attempts
  the server moves it to the dead-letter exchange `<exchange>.dead-letters`,
  whose queue of the same name keeps it for an operator.
- A plain subscriber has an exclusive, auto-deleted queue of its own: it gets
  every message published while it is subscribed; one whose handler raised
  is dropped (at most once, as on core NATS).
- aio-pika's robust connection reconnects by itself and declares the
  exchanges, queues and consumers again; meanwhile `connected` is False.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aio_pika.abc
import aiormq
from micro.broker import Message, MessageHandler
from micro.errors import Unavailable

__all__ = ["DEFAULT_RABBITMQ_URL", "RabbitMqBroker", "RabbitMqSubscription"]

log = logging.getLogger(__name__)

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NO_HEADERS: Mapping[str, str] = MappingProxyType({})
FAILURES = (aio_pika.exceptions.AMQPError, aiormq.exceptions.AMQPError, ConnectionError, OSError)
"""What aio-pika raises when the server or the connection fails."""


def routing_key(topic: str) -> str:
    """A micro topic as an AMQP topic exchange's binding key."""
    tokens = topic.split(".")
    return ".".join("#" if token == ">" else token for token in tokens)


class RabbitMqSubscription:
    """One consumer on its own channel: its messages are handled one after
    the other, in order, and acknowledged when their handler has returned."""

    def __init__(
        self,
        topic: str,
        queue: str | None,
        handler: MessageHandler,
        channel: aio_pika.abc.AbstractChannel,
        amqp_queue: aio_pika.abc.AbstractQueue,
        *,
        on_close: Callable[[RabbitMqSubscription], None],
    ) -> None:
        self.topic = topic
        self.queue = queue
        self.amqp_queue = amqp_queue.name
        self._handler = handler
        self._on_close = on_close
        self._channel = channel
        self._amqp_queue = amqp_queue
        self._inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage | None] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._worker = asyncio.create_task(self._handle_all(), name=f"rabbitmq broker: {topic}")
        self._closed = False

    async def start(self) -> None:
        self._consumer_tag = await self._amqp_queue.consume(self._receive)

    async def _receive(self, delivered: aio_pika.abc.AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(delivered)  # the worker handles them in order

    async def unsubscribe(self) -> None:
        """Stop the server sending, handle what it sent already, then close the channel."""
        if not self._closed:
            self._closed = True
            if self._consumer_tag is not None and not self._channel.is_closed:
                try:
                    await self._amqp_queue.cancel(self._consumer_tag)
                except FAILURES as error:
                    log.warning("broker rabbitmq: cancelling consumer of %s: %r", self.topic, error)
            self._inbox.put_nowait(None)
            self._on_close(self)
        await self._worker
        if not self._channel.is_closed:
            await self._channel.close()

    async def _handle_all(self) -> None:
        while (delivered := await self._inbox.get()) is not None:
            headers = {str(k): str(v) for k, v in (delivered.headers or {}).items()}
            topic = delivered.routing_key or self.topic
            message = Message(topic, delivered.body, headers or NO_HEADERS)
            try:
                await self._handler(message)
            except Exception:
                log.exception("handler of topic %s raised", message.topic)
                await self._settle(delivered, handled=False)
            else:
                await self._settle(delivered, handled=True)

    async def _settle(
        self, delivered: aio_pika.abc.AbstractIncomingMessage, *, handled: bool
    ) -> None:
        try:
            if handled:
                await delivered.ack()
            elif self.queue is not None:
                await delivered.nack(requeue=True)  # the quorum queue counts the attempts
            else:
                await delivered.reject(requeue=False)
        except FAILURES as error:  # the channel is gone: the server sends it again
            log.warning("broker rabbitmq: settling a message of %s: %r", self.topic, error)


class RabbitMqBroker:
    name = "rabbitmq"

    def __init__(
        self,
        url: str = DEFAULT_RABBITMQ_URL,
        *,
        exchange: str = "micro",
        max_deliver: int = 5,
        prefetch: int = 32,
        connect_timeout: float = 5.0,
    ) -> None:
        """`max_deliver`: attempts at a queue group's message before it is
        dead-lettered. `prefetch`: unacknowledged messages a subscription holds."""
        if max_deliver < 1:
            raise ValueError(f"max_deliver must be at least 1, got {max_deliver}")
        self.url = url
        self.exchange = exchange
        self.dead_letters = f"{exchange}.dead-letters"
        """The dead-letter exchange, and the queue that keeps what reaches it."""
        self.max_deliver = max_deliver
        self._prefetch = prefetch
        self._connect_timeout = connect_timeout
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._subscriptions: list[RabbitMqSubscription] = []
        self.durable_queues: set[str] = set()
        """The queue groups' queues this broker declared (they outlive it)."""

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def connect(self) -> None:
        if self._connection is not None:
            return
        try:
            connection = await aio_pika.connect_robust(self.url, timeout=self._connect_timeout)
        except (*FAILURES, TimeoutError) as error:
            raise Unavailable(
                f"broker rabbitmq: cannot connect to RabbitMQ at {_safe(self.url)}: {error!r}"
            ) from error
        try:
            channel = await connection.channel(publisher_confirms=True)
            self._exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            dead_letters = await channel.declare_exchange(
                self.dead_letters, aio_pika.ExchangeType.TOPIC, durable=True
            )
            kept = await channel.declare_queue(self.dead_letters, durable=True)
            await kept.bind(dead_letters, "#")
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def disconnect(self) -> None:
        """Stop delivering, let running handlers finish, then close."""
        await asyncio.gather(*(s.unsubscribe() for s in list(self._subscriptions)))
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._exchange = None

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        exchange = self._check_connected()
        message = aio_pika.Message(
            data,
            headers=dict(headers) if headers else None,
            message_id=(headers or {}).get("Micro-Id"),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await exchange.publish(message, routing_key=topic)
        except FAILURES as error:
            raise Unavailable(f"broker rabbitmq: cannot publish on {topic}: {error!r}") from error

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> RabbitMqSubscription:
        exchange = self._check_connected()
        assert self._connection is not None
        try:
            channel = await self._connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch)
            if queue is None:
                amqp_queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            else:
                amqp_queue = await channel.declare_queue(
                    self.queue_name(queue, topic),
                    durable=True,
                    arguments={
                        "x-queue-type": "quorum",
                        # The limit counts returns: the first attempt is not one.
                        "x-delivery-limit": self.max_deliver - 1,
                        "x-dead-letter-exchange": self.dead_letters,
                    },
                )
                self.durable_queues.add(amqp_queue.name)
            await amqp_queue.bind(exchange, routing_key(topic))
        except FAILURES as error:
            raise Unavailable(f"broker rabbitmq: cannot subscribe to {topic}: {error!r}") from error
        subscription = RabbitMqSubscription(
            topic, queue, handler, channel, amqp_queue, on_close=self._subscriptions.remove
        )
        await subscription.start()
        self._subscriptions.append(subscription)
        return subscription

    def queue_name(self, queue: str, topic: str) -> str:
        """The durable queue of queue group `queue` on `topic`."""
        return f"{self.exchange}:{queue}:{topic}"

    def _check_connected(self) -> aio_pika.abc.AbstractExchange:
        if self._connection is None or self._exchange is None:
            raise Unavailable("broker rabbitmq is not connected: call connect() first")
        if not self._connection.connected.is_set():
            raise Unavailable(f"broker rabbitmq: not connected to {_safe(self.url)}: reconnecting")
        return self._exchange


def _safe(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
