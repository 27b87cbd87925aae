"""The JetStream broker under faults, and its dead letters, against a real nats-server.

Each test has topics of its own, so the server (and its one dead-letter
stream) is shared; a test looks only at the dead letters of its own events.
Ack waits and attempts are short here, so that nothing waits long.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from devstack.nats_cluster import NatsCluster
from micro.broker import Message
from micro.broker.dead_letters import (
    ATTEMPTS,
    ERROR,
    QUEUE,
    STREAM,
    SUBJECT_PREFIX,
    TOPIC,
    DeadLetter,
    DeadLetters,
    one_line,
)
from micro.broker.jetstream import JetStreamBroker, consumer_name, stream_name
from micro.config import JetStreamSettings, Options
from micro.errors import NotFound
from micro.nats_client import connect
from micro.pubsub import EventInfo
from micro.service import Service
from micro.testing import eventually
from micro.testing.broker_contract import WITHIN, Inbox, unique_topic
from nats.js import JetStreamManager
from nats.js.api import AckPolicy, ConsumerConfig, StorageType
from shippy.user.v1.events_pb2 import UserCreated

FAST = JetStreamSettings(ack_wait=30.0, max_deliver=3)
"""Three attempts; an ack wait too long to redeliver anything within a test."""


def new_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def jsm(nats_url: str) -> AsyncIterator[JetStreamManager]:
    """A look at the server's streams and consumers, past the broker."""
    nc = await connect(nats_url, "test: jetstream manager")
    yield nc.jsm()
    await nc.close()


@pytest.fixture
async def broker(nats_url: str) -> AsyncIterator[JetStreamBroker]:
    broker = JetStreamBroker(nats_url, settings=FAST)
    await broker.connect()
    yield broker
    await broker.disconnect()


async def dead_letters_of(dead_letters: DeadLetters, event_id: str) -> list[DeadLetter]:
    return [letter for letter in await dead_letters.list() if letter.event_id == event_id]


async def wait_for_dead_letter(dead_letters: DeadLetters, event_id: str) -> DeadLetter:
    async def buried() -> bool:
        return bool(await dead_letters_of(dead_letters, event_id))

    await eventually(buried, waiting_for=f"event {event_id} in the dead letters")
    [letter] = await dead_letters_of(dead_letters, event_id)
    return letter


class Flaky(Inbox):
    """A handler that fails until it is `healed`."""

    def __init__(self) -> None:
        super().__init__(fail_on=lambda message: not self.healed)
        self.healed = False


async def bury(broker: JetStreamBroker, handler: Inbox, topic: str, event_id: str) -> DeadLetter:
    """Make a dead letter: `handler`'s group fails on `event_id` (until healed)."""
    await broker.publish(topic, b"welcome", {"Micro-Id": event_id, "Trace-Id": "t-1"})
    return await wait_for_dead_letter(broker.dead_letters, event_id)


# Publishing


async def test_publishing_twice_with_one_micro_id_stores_one_message(
    broker: JetStreamBroker, jsm: JetStreamManager
) -> None:
    topic, event_id = unique_topic(), new_id()

    await broker.publish(topic, b"welcome", {"Micro-Id": event_id})
    await broker.publish(topic, b"welcome", {"Micro-Id": event_id})  # a relay's retry
    await broker.publish(topic, b"welcome", {"Micro-Id": new_id()})  # another event

    info = await jsm.stream_info(stream_name("MICRO", topic))
    assert info.state.messages == 2


async def test_streams_are_on_file_with_the_configured_settings(
    broker: JetStreamBroker, jsm: JetStreamManager
) -> None:
    topic = unique_topic()

    await broker.publish(topic, b"hello")

    config = (await jsm.stream_info(stream_name("MICRO", topic))).config
    assert config.storage == StorageType.FILE
    assert config.num_replicas == 1
    assert config.duplicate_window == 3600.0


async def test_a_stream_made_with_other_settings_is_updated(
    broker: JetStreamBroker, jsm: JetStreamManager
) -> None:
    topic = unique_topic()
    await jsm.add_stream(name=stream_name("MICRO", topic), subjects=[topic], duplicate_window=120)

    await broker.publish(topic, b"hello")

    config = (await jsm.stream_info(stream_name("MICRO", topic))).config
    assert config.duplicate_window == 3600.0


async def test_a_stream_that_holds_other_topics_is_extended_and_updated(
    broker: JetStreamBroker, jsm: JetStreamManager
) -> None:
    topic, other = unique_topic(), unique_topic()
    name = stream_name("MICRO", topic)
    await jsm.add_stream(name=name, subjects=[other], duplicate_window=120)

    await broker.publish(topic, b"hello")

    config = (await jsm.stream_info(name)).config
    assert sorted(config.subjects or []) == sorted([other, topic])
    assert config.duplicate_window == 3600.0


async def test_a_consumer_made_with_other_settings_is_updated(
    broker: JetStreamBroker, jsm: JetStreamManager
) -> None:
    topic, inbox = unique_topic(), Inbox()
    await broker.publish(topic, b"early")
    stream = stream_name("MICRO", topic)
    await jsm.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=consumer_name("mailers"),
            deliver_group=consumer_name("mailers"),
            deliver_subject=f"_INBOX.{new_id()}",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=2.0,
            max_deliver=2,
        ),
    )

    await broker.subscribe(topic, inbox, queue="mailers")

    config = (await jsm.consumer_info(stream, consumer_name("mailers"))).config
    assert config.ack_wait == FAST.ack_wait
    assert config.max_deliver == -1  # the broker's own limit applies: see the module
    await inbox.wait_until_received(1)


# Consumers: acknowledgement, in-progress, cancellation


async def test_handlers_run_at_once_up_to_max_in_flight_and_each_is_acked_after_it_returned(
    nats_url: str, jsm: JetStreamManager
) -> None:
    broker = JetStreamBroker(nats_url, settings=dataclasses.replace(FAST, max_in_flight=2))
    await broker.connect()
    topic, inbox = unique_topic(), Inbox()
    stream, consumer = stream_name("MICRO", topic), consumer_name("mailers")
    started: list[bytes] = []
    release = asyncio.Event()

    async def handler(message: Message) -> None:
        started.append(message.data)
        await release.wait()
        await inbox(message)

    try:
        await broker.subscribe(topic, handler, queue="mailers")
        for data in (b"one", b"two", b"three"):
            await broker.publish(topic, data)

        async def two_running() -> bool:
            return len(started) == 2

        await eventually(two_running, waiting_for="two handlers at once")
        info = await jsm.consumer_info(stream, consumer)
        assert started == [b"one", b"two"]  # the third waits for a free slot
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        assert floor == 0  # none is acknowledged while its handler runs
        release.set()
        await inbox.wait_until_received(3)

        async def all_acknowledged() -> bool:
            info = await jsm.consumer_info(stream, consumer)
            return info.num_ack_pending == 0 and info.num_redelivered == 0

        await eventually(all_acknowledged, waiting_for="three acks")
    finally:
        await broker.disconnect()

    assert sorted(inbox.data) == [b"one", b"three", b"two"]


@pytest.fixture
async def one_at_a_time(nats_url: str) -> AsyncIterator[JetStreamBroker]:
    broker = JetStreamBroker(nats_url, settings=dataclasses.replace(FAST, max_in_flight=1))
    await broker.connect()
    yield broker
    await broker.disconnect()


async def test_one_at_a_time_an_event_is_acknowledged_before_the_next_one_is_handled(
    one_at_a_time: JetStreamBroker, jsm: JetStreamManager
) -> None:
    broker = one_at_a_time
    topic, inbox = unique_topic(), Inbox()
    stream, consumer = stream_name("MICRO", topic), consumer_name("mailers")
    acked_before_second: list[int] = []

    async def ack_floor() -> int:
        info = await jsm.consumer_info(stream, consumer)
        return info.ack_floor.stream_seq if info.ack_floor else 0

    async def first_acked() -> bool:
        return await ack_floor() >= 1

    async def handler(message: Message) -> None:
        if message.data == b"second":
            # The ack of "first" was sent before this handler started: the
            # server moves the floor while "second" is still unacknowledged.
            await eventually(first_acked, waiting_for="the ack of the first event")
            acked_before_second.append(await ack_floor())
        await inbox(message)

    await broker.subscribe(topic, handler, queue="mailers")
    await broker.publish(topic, b"first")
    await broker.publish(topic, b"second")
    await inbox.wait_until_received(2)

    assert acked_before_second == [1]

    async def all_acknowledged() -> bool:
        info = await jsm.consumer_info(stream, consumer)
        return info.num_ack_pending == 0 and info.num_redelivered == 0

    await eventually(all_acknowledged, waiting_for="both acks")
    assert inbox.data == [b"first", b"second"]


async def test_a_handler_slower_than_the_ack_wait_is_not_delivered_again_while_it_runs(
    nats_url: str, jsm: JetStreamManager
) -> None:
    ack_wait = 1.0
    broker = JetStreamBroker(nats_url, settings=JetStreamSettings(ack_wait=ack_wait))
    topic, deliveries = unique_topic(), Inbox()

    async def slow(message: Message) -> None:
        await deliveries(message)
        await asyncio.sleep(3 * ack_wait)  # a slow SMTP server: three ack waits

    await broker.connect()
    try:
        await broker.subscribe(topic, slow, queue="mailers")
        await broker.subscribe(topic, slow, queue="mailers")  # would get a redelivery
        await broker.publish(topic, b"welcome")
        await deliveries.wait_until_received(1)

        async def acknowledged() -> bool:
            info = await jsm.consumer_info(stream_name("MICRO", topic), consumer_name("mailers"))
            return info.num_ack_pending == 0

        await eventually(acknowledged, within=5 * ack_wait, waiting_for="the slow handler's ack")
        info = await jsm.consumer_info(stream_name("MICRO", topic), consumer_name("mailers"))
    finally:
        await broker.disconnect()
    assert deliveries.data == [b"welcome"]
    assert info.num_redelivered == 0


async def test_a_handler_cancelled_by_a_bounded_stop_is_delivered_to_the_next_subscriber(
    nats_url: str,
) -> None:
    stopping, staying = JetStreamBroker(nats_url, settings=FAST), JetStreamBroker(nats_url)
    topic, started, next_one = unique_topic(), asyncio.Event(), Inbox()
    cancelled: list[bytes] = []

    async def stuck(message: Message) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # an SMTP call that never ends
        except asyncio.CancelledError:
            cancelled.append(message.data)
            raise

    await stopping.connect()
    await staying.connect()
    try:
        subscription = await stopping.subscribe(topic, stuck, queue="mailers")
        await stopping.publish(topic, b"welcome", {"Micro-Id": "e-1"})
        async with asyncio.timeout(WITHIN):
            await started.wait()
        await staying.subscribe(topic, next_one, queue="mailers")

        with pytest.raises(TimeoutError):  # what Service.stop does: wait, bounded
            async with asyncio.timeout(0.2):
                await subscription.unsubscribe()
        await stopping.disconnect()

        await next_one.wait_until_received(1)  # well before the 30 s ack wait
    finally:
        await staying.disconnect()
    assert cancelled == [b"welcome"]
    assert next_one.data == [b"welcome"]
    assert next_one.messages[0].headers["Micro-Id"] == "e-1"


async def test_a_service_stopped_during_a_handler_leaves_its_event_to_the_next_instance(
    nats_url: str,
) -> None:
    options = Options(
        registry="memory", broker="jetstream", nats_url=nats_url, shutdown_timeout=0.2
    )
    topic, started, handled = unique_topic(), asyncio.Event(), asyncio.Event()
    event_ids: list[str] = []

    first = Service("shippy.test.mailer", options=options)

    @first.subscriber(topic, queue="mailers")
    async def never_done(event: UserCreated, info: EventInfo) -> None:
        started.set()
        await asyncio.Event().wait()

    second = Service("shippy.test.mailer", options=options)

    @second.subscriber(topic, queue="mailers")
    async def mails(event: UserCreated, info: EventInfo) -> None:
        event_ids.append(info.id)
        handled.set()

    await first.start()
    try:
        await first.broker.publish(
            topic, UserCreated(name="Ada").SerializeToString(), {"Micro-Id": "e-2"}
        )
        async with asyncio.timeout(WITHIN):
            await started.wait()
        await second.start()
    finally:
        await first.stop()  # SIGTERM: the handler outlives the bound and is cancelled
    try:
        async with asyncio.timeout(WITHIN):
            await handled.wait()
    finally:
        await second.stop()
    assert event_ids == ["e-2"]


# Dead letters


async def test_a_handler_that_always_fails_sends_the_event_to_the_dead_letters(
    broker: JetStreamBroker, jsm: JetStreamManager, caplog: pytest.LogCaptureFixture
) -> None:
    topic, event_id, attempts = unique_topic(), new_id(), Inbox()

    async def failing(message: Message) -> None:
        await attempts(message)
        raise ConnectionError("SMTP server said:\n421 try again later")

    await broker.subscribe(topic, failing, queue="mailers")
    await broker.publish(topic, b"welcome", {"Micro-Id": event_id, "Trace-Id": "t-7"})

    letter = await wait_for_dead_letter(broker.dead_letters, event_id)
    assert letter.topic == topic
    assert letter.queue == "mailers"
    assert letter.attempts == FAST.max_deliver == len(attempts.messages)
    assert letter.last_error == "ConnectionError: SMTP server said: 421 try again later"
    assert letter.data == b"welcome"
    assert letter.headers["Trace-Id"] == "t-7"
    assert not any(name.startswith("Micro-Dead-") for name in letter.headers)

    stored = await jsm.get_msg(STREAM, letter.sequence)
    assert stored.subject == f"{SUBJECT_PREFIX}.{topic}"
    assert stored.headers is not None
    assert {k: stored.headers[k] for k in (TOPIC, QUEUE, ATTEMPTS)} == {
        TOPIC: topic,
        QUEUE: "mailers",
        ATTEMPTS: "3",
    }
    assert stored.headers[ERROR] == letter.last_error
    assert stored.headers["Micro-Id"] == event_id

    async def terminated() -> bool:
        info = await jsm.consumer_info(stream_name("MICRO", topic), consumer_name("mailers"))
        return info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(terminated, waiting_for="the original to be terminated")
    assert len(attempts.messages) == FAST.max_deliver  # and never delivered again
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(event_id in line and topic in line and "dead letters" in line for line in logged)


async def test_replay_sends_the_original_back_with_a_fresh_msg_id_and_removes_it(
    broker: JetStreamBroker,
) -> None:
    topic, event_id, mailer = unique_topic(), new_id(), Flaky()
    await broker.subscribe(topic, mailer, queue="mailers")
    await bury(broker, mailer, topic, event_id)
    mailer.healed = True  # the SMTP server is back

    replayed = await broker.dead_letters.replay(event_id)

    assert replayed == 1
    await mailer.wait_until_received(FAST.max_deliver + 1)  # not dropped as a duplicate
    original, again = mailer.messages[0], mailer.messages[-1]
    assert again.data == original.data == b"welcome"
    assert again.headers["Micro-Id"] == event_id
    assert again.headers["Trace-Id"] == "t-1"
    assert again.headers["Nats-Msg-Id"] != original.headers["Nats-Msg-Id"]
    assert not any(name.startswith("Micro-Dead-") for name in again.headers)
    assert await dead_letters_of(broker.dead_letters, event_id) == []


async def test_replay_all_sends_every_dead_event_back(broker: JetStreamBroker) -> None:
    topic, first, second, mailer = unique_topic(), new_id(), new_id(), Flaky()
    await broker.subscribe(topic, mailer, queue="mailers")
    await bury(broker, mailer, topic, first)
    await bury(broker, mailer, topic, second)
    mailer.healed = True

    replayed = await broker.dead_letters.replay_all()

    assert replayed >= 2  # and any other test's that were there
    await mailer.wait_until_received(2 * FAST.max_deliver + 2)
    assert {m.headers["Micro-Id"] for m in mailer.messages[-2:]} == {first, second}
    assert await dead_letters_of(broker.dead_letters, first) == []
    assert await dead_letters_of(broker.dead_letters, second) == []


async def test_replaying_an_unknown_event_id_is_not_found(broker: JetStreamBroker) -> None:
    with pytest.raises(NotFound, match="no dead letter has event id 'nope'"):
        await broker.dead_letters.replay("nope")


async def test_dead_letters_on_a_connection_of_their_own(
    broker: JetStreamBroker, nats_url: str
) -> None:
    topic, event_id, mailer = unique_topic(), new_id(), Flaky()
    await broker.subscribe(topic, mailer, queue="broken")
    await bury(broker, mailer, topic, event_id)

    async with DeadLetters.connect(nats_url) as dead_letters:
        [letter] = await dead_letters_of(dead_letters, event_id)

    assert (letter.topic, letter.queue, letter.attempts) == (topic, "broken", FAST.max_deliver)


def test_an_error_becomes_one_bounded_line() -> None:
    assert one_line("boom\r\n  at line 3\tand more") == "boom at line 3 and more"
    long = one_line("x" * 1000)
    assert len(long) == 300
    assert long.endswith("…")


# On a cluster


async def test_on_a_three_node_cluster_streams_and_dead_letters_have_three_replicas(
    nats_cluster: NatsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings = JetStreamSettings(replicas=3, ack_wait=30.0, max_deliver=1)
    broker = JetStreamBroker(nats_cluster.urls[0], settings=settings)
    topic, event_id = unique_topic(), new_id()

    def buried() -> bool:  # a stream that just chose its leader may not answer at once
        return any(
            event_id in r.getMessage() and "dead letters" in r.getMessage() for r in caplog.records
        )

    await broker.connect()
    try:
        await broker.subscribe(topic, Inbox(fail_on=lambda m: True), queue="mailers")
        await broker.publish(topic, b"welcome", {"Micro-Id": event_id})
        await eventually(buried, waiting_for=f"event {event_id} in the dead letters")
        [letter] = await dead_letters_of(broker.dead_letters, event_id)
        nc = await connect(nats_cluster.urls[1], "test: cluster manager")
        try:
            jsm = nc.jsm()
            streams = [
                await jsm.stream_info(name) for name in (stream_name("MICRO", topic), STREAM)
            ]
        finally:
            await nc.close()
    finally:
        await broker.disconnect()
    assert (letter.topic, letter.attempts) == (topic, 1)
    for info in streams:
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        assert len(info.cluster.replicas or []) == 2  # besides the leader
