"""Typed publishers and subscribers, on the memory broker and over real NATS."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from micro.broker import Broker, Message
from micro.broker.jetstream import JetStreamBroker
from micro.broker.memory import MemoryBroker
from micro.broker.nats import NatsBroker
from micro.codec import JSON, PROTOBUF, Codec, JsonCodec, ProtobufCodec
from micro.pubsub import EventInfo, Publisher, Subscriber
from shippy.user.v1.events_pb2 import UserCreated
from shippy.vessel.v1.vessel_pb2 import Vessel

WITHIN = 5.0
"""Seconds a test waits for a delivery before it fails."""

ADA = UserCreated(user_id="u-1", name="Ada Lovelace", email="ada@example.com", company="AE")


def unique_topic() -> str:
    return f"test.pubsub.{uuid.uuid4().hex[:8]}"


class Events:
    """A typed handler that records what it receives, and waits on it."""

    def __init__(self) -> None:
        self.received: list[tuple[UserCreated, EventInfo]] = []
        self._changed = asyncio.Condition()

    async def on_user_created(self, event: UserCreated, info: EventInfo) -> None:
        async with self._changed:
            self.received.append((event, info))
            self._changed.notify_all()

    @property
    def names(self) -> list[str]:
        return [event.name for event, _ in self.received]

    async def wait_for_name(self, name: str) -> None:
        async with asyncio.timeout(WITHIN), self._changed:
            await self._changed.wait_for(lambda: name in self.names)


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    broker = MemoryBroker()
    await broker.connect()
    yield broker
    await broker.disconnect()


async def test_a_subscriber_gets_the_typed_event_its_id_and_headers(broker: Broker) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created, queue="mailers").attach(broker)
    publisher = Publisher(topic, UserCreated, broker)

    event_id = await publisher.publish(ADA, headers={"Trace-Id": "t-7"})

    await events.wait_for_name("Ada Lovelace")
    [(event, info)] = events.received
    assert event == ADA
    assert info.id == event_id
    assert uuid.UUID(hex=event_id).version == 4
    assert info.topic == topic
    assert info.content_type == PROTOBUF
    assert info.headers["Trace-Id"] == "t-7"
    assert info.headers["Micro-Id"] == event_id


@pytest.mark.parametrize(
    ("codec", "content_type"),
    [(ProtobufCodec(), None), (JsonCodec(), JSON)],
    ids=["protobuf", "json"],
)
async def test_an_event_names_its_codec_unless_protobuf_and_a_caller_cannot_change_it(
    broker: Broker, codec: Codec, content_type: str | None
) -> None:
    topic, sent = unique_topic(), asyncio.Queue[Message]()

    async def keep(message: Message) -> None:
        sent.put_nowait(message)

    await broker.subscribe(topic, keep)
    publisher = Publisher(topic, UserCreated, broker, codec=codec)

    event_id = await publisher.publish(ADA)
    await publisher.publish(ADA, headers={"Content-Type": "text/csv", "Micro-Id": "mine"})

    async with asyncio.timeout(WITHIN):
        plain, told_otherwise = await sent.get(), await sent.get()
    assert dict(plain.headers) == {"Micro-Id": event_id} | (
        {"Content-Type": content_type} if content_type else {}
    )
    assert told_otherwise.headers.get("Content-Type") == content_type
    assert told_otherwise.headers["Micro-Id"] != "mine"


async def test_a_handler_may_take_the_event_alone(broker: Broker) -> None:
    topic, received = unique_topic(), asyncio.Queue[UserCreated]()

    async def on_user_created(event: UserCreated) -> None:
        received.put_nowait(event)

    await Subscriber(topic, on_user_created).attach(broker)
    await Publisher(topic, UserCreated, broker).publish(ADA)

    async with asyncio.timeout(WITHIN):
        assert await received.get() == ADA


async def test_a_caller_may_choose_the_event_id(broker: Broker) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created).attach(broker)

    event_id = await Publisher(topic, UserCreated, broker).publish(ADA, event_id="evt-1")

    await events.wait_for_name(ADA.name)
    assert event_id == events.received[0][1].id == "evt-1"


async def test_json_events_arrive_typed(broker: Broker) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created).attach(broker)

    await Publisher(topic, UserCreated, broker, codec=JsonCodec()).publish(ADA)

    await events.wait_for_name(ADA.name)
    [(event, info)] = events.received
    assert event == ADA
    assert info.content_type == JSON


async def test_a_publisher_refuses_another_message_type(broker: Broker) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created).attach(broker)
    publisher = Publisher(topic, UserCreated, broker)

    with pytest.raises(TypeError, match=r"sends shippy\.user\.v1\.UserCreated, not .*Vessel"):
        await publisher.publish(Vessel(id="v-1"))  # type: ignore[arg-type]
    await publisher.publish(UserCreated(name="after"))

    await events.wait_for_name("after")
    assert events.names == ["after"], "the refused message was not sent"


async def test_an_event_without_content_type_is_read_as_protobuf(broker: Broker) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created).attach(broker)

    await broker.publish(topic, ADA.SerializeToString())

    await events.wait_for_name(ADA.name)
    assert events.received[0][1].content_type == PROTOBUF


@pytest.mark.parametrize(
    ("payload", "content_type", "reason"),
    [
        (b"\xff\xff\xff", PROTOBUF, "not a valid shippy.user.v1.UserCreated"),
        (b"{not json", JSON, "not a valid shippy.user.v1.UserCreated"),
        (ADA.SerializeToString(), "text/csv", "unknown content type 'text/csv'"),
    ],
)
async def test_an_unreadable_event_is_logged_and_dropped(
    broker: Broker,
    caplog: pytest.LogCaptureFixture,
    payload: bytes,
    content_type: str,
    reason: str,
) -> None:
    topic, events = unique_topic(), Events()
    await Subscriber(topic, events.on_user_created).attach(broker)

    await broker.publish(topic, payload, {"Content-Type": content_type, "Micro-Id": "bad-1"})
    await Publisher(topic, UserCreated, broker).publish(UserCreated(name="next"))

    await events.wait_for_name("next")
    assert events.names == ["next"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert topic in record.getMessage()
    assert "bad-1" in record.getMessage()
    assert reason in record.getMessage()


async def _unannotated(event, info) -> None:  # type: ignore[no-untyped-def]
    pass


async def _not_a_message(event: str) -> None:
    pass


def _not_async(event: UserCreated) -> None:
    pass


async def _wrong_info(event: UserCreated, info: Message) -> None:
    pass


async def _too_many(event: UserCreated, info: EventInfo, extra: int) -> None:
    pass


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (_unannotated, "first parameter 'event' must be annotated with a protobuf message class"),
        (_not_a_message, "must be annotated with a protobuf message class, not <class 'str'>"),
        (_not_async, "must be an async function"),
        (_wrong_info, "second parameter must be an EventInfo"),
        (_too_many, r"must take \(event\) or \(event, info\), not 3"),
    ],
)
def test_a_handler_that_cannot_take_events_is_refused(
    handler: Callable[..., object], reason: str
) -> None:
    with pytest.raises(TypeError, match=reason) as refused:
        Subscriber("user.created", handler)  # type: ignore[arg-type]
    assert handler.__name__ in str(refused.value)
    assert "user.created" in str(refused.value)


@pytest.mark.parametrize("make_broker", [NatsBroker, JetStreamBroker], ids=["nats", "jetstream"])
async def test_typed_events_over_real_nats(
    nats_url: str, make_broker: Callable[[str], Broker]
) -> None:
    topic, events = unique_topic(), Events()
    broker = make_broker(nats_url)
    await broker.connect()
    try:
        await Subscriber(topic, events.on_user_created, queue="mailers").attach(broker)

        event_id = await Publisher(topic, UserCreated, broker).publish(ADA, {"Trace-Id": "t-9"})

        await events.wait_for_name(ADA.name)
    finally:
        await broker.disconnect()
    [(event, info)] = events.received
    assert event == ADA
    assert info.id == event_id
    assert info.headers["Trace-Id"] == "t-9"
