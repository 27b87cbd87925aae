"""Typed events on a broker: a publisher bound to one message type, and a
subscriber whose message type is its handler's first annotation.

    created = Publisher("user.created", UserCreated, broker)
    event_id = await created.publish(UserCreated(user_id=..., email=...))

    async def on_user_created(event: UserCreated, info: EventInfo) -> None: ...
    subscription = await Subscriber("user.created", on_user_created, queue="email").attach(broker)

Every event travels with its id in the "Micro-Id" header (`publish` returns
it, the handler sees it as `info.id`). One written with another codec than
protobuf names it in "Content-Type"; protobuf's is not sent, since an event
without the header is read as protobuf: 36 bytes less on every event, and a
header less to read. The topic is the NATS subject itself, so it needs no
header.
An event that cannot be decoded is logged with its topic and id and
dropped; an exception from the handler goes to the broker, which logs it
(and on JetStream delivers the event again).
"""

from __future__ import annotations

import inspect
import logging
import random
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from google.protobuf.message import Message as ProtoMessage

from micro.broker import Broker, Message, Subscription, new_tuple
from micro.codec import CODECS, PROTOBUF, Codec, CodecError, ProtobufCodec

__all__ = ["CONTENT_TYPE", "MICRO_ID", "Destination", "EventInfo", "Publisher", "Subscriber"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=ProtoMessage)

MICRO_ID = "Micro-Id"
CONTENT_TYPE = "Content-Type"


class EventInfo(NamedTuple):
    """What a handler may know about an event besides its content.

    Immutable like a frozen dataclass, and cheaper to create: one is made
    for every event handled."""

    id: str
    topic: str
    content_type: str
    headers: Mapping[str, str]


class Destination(Protocol):
    """Where a publisher writes: a `Broker`, or an `Outbox` (micro.outbox)
    that holds the event in a transaction until its relay sends it."""

    async def publish(self, topic: str, data: bytes, headers: Mapping[str, str]) -> None: ...


class Publisher(Generic[M]):
    """Publishes events of one message type on one topic, to a broker or an outbox."""

    def __init__(
        self,
        topic: str,
        message_type: type[M],
        broker: Destination,
        codec: Codec | None = None,
    ) -> None:
        self.topic = topic
        self.message_type = message_type
        self.broker = broker
        self.codec = codec or ProtobufCodec()
        # What the Content-Type header says: nothing for protobuf, the default.
        self._content_type = self.codec.content_type if self.codec.content_type != PROTOBUF else ""

    async def publish(
        self,
        message: M,
        headers: Mapping[str, str] | None = None,
        *,
        event_id: str | None = None,
    ) -> str:
        """Send `message`; returns its event id (a new uuid4 hex unless given).

        `headers` travel with it, except that they cannot replace the event
        id or say another codec than the publisher's."""
        if not isinstance(message, self.message_type):
            raise TypeError(
                f"publisher of {self.topic!r} sends {_name(self.message_type)}, "
                f"not {_name(type(message))}"
            )
        event_id = event_id or new_event_id()
        sent = {**headers, MICRO_ID: event_id} if headers else {MICRO_ID: event_id}
        if self._content_type:
            sent[CONTENT_TYPE] = self._content_type
        elif CONTENT_TYPE in sent:  # the caller's: it cannot say another codec
            del sent[CONTENT_TYPE]
        await self.broker.publish(self.topic, self.codec.encode(message), sent)
        return event_id


class Subscriber(Generic[M]):
    """Hands the events on `topic` to `handler`, decoded into its first
    parameter's type; a second parameter, if any, receives the `EventInfo`."""

    def __init__(
        self, topic: str, handler: Callable[..., Awaitable[None]], queue: str | None = None
    ) -> None:
        self.topic = topic
        self.queue = queue
        self.handler = handler
        self.message_type: type[M]
        self.message_type, self._wants_info = _read_signature(handler, topic)
        self._decoders = {content_type: codec.decode for content_type, codec in CODECS.items()}

    async def attach(self, broker: Broker) -> Subscription:
        return await broker.subscribe(self.topic, self._on_message, self.queue)

    def _on_message(self, message: Message) -> Awaitable[None]:
        """The handler's call for `message`, for the broker to await. A plain
        function, not a coroutine: every event costs one coroutine less."""
        headers = message.headers
        content_type = headers.get(CONTENT_TYPE, PROTOBUF)
        decode = self._decoders.get(content_type)
        try:
            if decode is None:
                raise CodecError(f"unknown content type {content_type!r}")
            event = decode(message.data, self.message_type)
        except CodecError as e:
            log.error(
                "dropped an event on topic %s (event id %s): %s",
                message.topic,
                headers.get(MICRO_ID, "unknown"),
                e,
            )
            return _dropped()
        if self._wants_info:
            info = new_tuple(
                EventInfo, (headers.get(MICRO_ID, ""), message.topic, content_type, headers)
            )
            return self.handler(event, info)
        return self.handler(event)


async def _dropped() -> None:
    """What the broker awaits for an event that was dropped."""


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_event_id() -> str:
    """A random (version 4) UUID as 32 hex digits, a few times quicker than
    uuid.uuid4().hex: an event id must be unique, not unpredictable."""
    return "%032x" % (random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)


def _read_signature(handler: Callable[..., Any], topic: str) -> tuple[type[Any], bool]:
    """The handler's event type (its first parameter's annotation) and
    whether it takes an `EventInfo` too; TypeError when it cannot be a handler."""
    function = handler if inspect.isroutine(handler) else type(handler).__call__
    where = f"subscriber {getattr(handler, '__qualname__', handler)!r} of topic {topic!r}"
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"{where}: must be an async function")
    positional = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not 1 <= len(positional) <= 2:
        raise TypeError(f"{where}: must take (event) or (event, info), not {len(positional)}")
    try:
        hints = typing.get_type_hints(function)
    except NameError as e:
        raise TypeError(f"{where}: cannot resolve its annotations: {e}") from e
    message_type = hints.get(positional[0].name)
    if not (
        isinstance(message_type, type)
        and issubclass(message_type, ProtoMessage)
        and message_type is not ProtoMessage
    ):
        raise TypeError(
            f"{where}: its first parameter {positional[0].name!r} must be annotated "
            f"with a protobuf message class, not {message_type!r}"
        )
    if len(positional) == 2:
        info_type = hints.get(positional[1].name, EventInfo)
        if info_type is not EventInfo:
            raise TypeError(f"{where}: its second parameter must be an EventInfo")
    return message_type, len(positional) == 2


def _name(cls: type) -> str:
    if issubclass(cls, ProtoMessage) and cls is not ProtoMessage:
        return cls.DESCRIPTOR.full_name
    return f"{cls.__module__}.{cls.__qualname__}"
