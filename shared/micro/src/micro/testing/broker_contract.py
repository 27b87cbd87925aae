"""The broker contract: the tests every `Broker` implementation passes.

The core's memory, NATS and JetStream brokers run them (shared/micro/tests),
and a plugin package proves itself by subclassing `BrokerContract` with an
`unconnected` fixture of its own. Every test uses a topic of its own, so
the server may be shared between tests.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from micro.broker import Broker, Message
from micro.errors import Unavailable
from micro.testing.waiting import eventually

__all__ = [
    "WITHIN",
    "AtLeastOnceContract",
    "BrokerContract",
    "Inbox",
    "flush",
    "real_messages",
    "unique_topic",
]

WITHIN = 5.0
"""Seconds a test waits for a delivery before it fails."""


def unique_topic() -> str:
    return f"test.broker.{uuid.uuid4().hex[:8]}"


class Inbox:
    """A handler that records what it receives, and waits on it."""

    def __init__(self, fail_on: Callable[[Message], bool] = lambda m: False) -> None:
        self.messages: list[Message] = []
        self._fail_on = fail_on
        self._changed = asyncio.Condition()

    async def __call__(self, message: Message) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        if self._fail_on(message):
            raise RuntimeError(f"handler refuses {message.data!r}")

    @property
    def data(self) -> list[bytes]:
        return [m.data for m in self.messages]

    async def wait_for(self, condition: Callable[[Inbox], bool]) -> None:
        async with asyncio.timeout(WITHIN), self._changed:
            await self._changed.wait_for(lambda: condition(self))

    async def wait_until_received(self, count: int) -> None:
        await self.wait_for(lambda inbox: len(inbox.messages) >= count)


async def flush(publish: Callable[[bytes], Awaitable[None]], *members: Inbox) -> None:
    """Publish sentinels until each member got one: a member that got a
    sentinel has also got whatever was published before it."""

    def each_got_one(_: Inbox) -> bool:
        return all(b"sentinel" in member.data for member in members)

    waits = [asyncio.create_task(m.wait_for(each_got_one)) for m in members]
    try:
        async with asyncio.timeout(WITHIN):
            while not each_got_one(members[0]):
                await publish(b"sentinel")
                await asyncio.wait(waits, timeout=0.05)  # or publish one more
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def real_messages(inbox: Inbox) -> list[bytes]:
    return [data for data in inbox.data if data != b"sentinel"]


class BrokerContract:
    """The tests every broker passes. A subclass provides the `unconnected`
    fixture: a new broker, not yet connected; `broker` is that one, connected.

        class TestMqttBroker(BrokerContract):
            @pytest.fixture
            def unconnected(self, mqtt_url: str) -> Broker:
                return MqttBroker(mqtt_url)
    """

    @pytest.fixture
    async def broker(self, unconnected: Broker) -> AsyncIterator[Broker]:
        await unconnected.connect()
        yield unconnected
        await unconnected.disconnect()

    async def test_a_subscriber_receives_data_and_headers(self, broker: Broker) -> None:
        topic, inbox = unique_topic(), Inbox()
        await broker.subscribe(topic, inbox)

        await broker.publish(topic, b"hello", {"Trace-Id": "abc-123"})

        await inbox.wait_until_received(1)
        [message] = inbox.messages
        assert message.topic == topic
        assert message.data == b"hello"
        assert message.headers["Trace-Id"] == "abc-123"

    async def test_every_plain_subscriber_receives_every_message(self, broker: Broker) -> None:
        topic, first, second = unique_topic(), Inbox(), Inbox()
        await broker.subscribe(topic, first)
        await broker.subscribe(topic, second)

        for n in range(3):
            await broker.publish(topic, b"%d" % n)

        await first.wait_until_received(3)
        await second.wait_until_received(3)
        assert first.data == second.data == [b"0", b"1", b"2"]

    async def test_a_queue_group_handles_each_message_exactly_once(self, broker: Broker) -> None:
        topic, first, second = unique_topic(), Inbox(), Inbox()
        await broker.subscribe(topic, first, queue="workers")
        await broker.subscribe(topic, second, queue="workers")
        sent = [b"%d" % n for n in range(20)]

        for data in sent:
            await broker.publish(topic, data)
        await flush(lambda data: broker.publish(topic, data), first, second)

        handled = real_messages(first) + real_messages(second)
        assert sorted(handled) == sorted(sent)
        assert real_messages(first), "both members get work"
        assert real_messages(second), "both members get work"

    async def test_each_queue_group_handles_each_message_once(self, broker: Broker) -> None:
        topic = unique_topic()
        mailers, auditors = [Inbox(), Inbox()], [Inbox(), Inbox()]
        for inbox in mailers:
            await broker.subscribe(topic, inbox, queue="mailers")
        for inbox in auditors:
            await broker.subscribe(topic, inbox, queue="auditors")
        sent = [b"%d" % n for n in range(10)]

        for data in sent:
            await broker.publish(topic, data)
        await flush(lambda data: broker.publish(topic, data), *mailers, *auditors)

        for group in (mailers, auditors):
            assert sorted(real_messages(group[0]) + real_messages(group[1])) == sorted(sent)

    async def test_unsubscribe_stops_delivery(self, broker: Broker) -> None:
        topic, leaving, staying = unique_topic(), Inbox(), Inbox()
        subscription = await broker.subscribe(topic, leaving)
        await broker.subscribe(topic, staying)
        await broker.publish(topic, b"before")
        await leaving.wait_until_received(1)

        await subscription.unsubscribe()
        await broker.publish(topic, b"after")

        await staying.wait_until_received(2)
        assert leaving.data == [b"before"]

    async def test_unsubscribe_waits_for_a_running_handler(self, broker: Broker) -> None:
        topic, started, release = unique_topic(), asyncio.Event(), asyncio.Event()
        finished: list[bytes] = []

        async def slow(message: Message) -> None:
            started.set()
            await release.wait()
            finished.append(message.data)

        subscription = await broker.subscribe(topic, slow)
        await broker.publish(topic, b"work")
        async with asyncio.timeout(WITHIN):
            await started.wait()

        asyncio.get_running_loop().call_later(0.05, release.set)
        await subscription.unsubscribe()

        assert finished == [b"work"]

    async def test_disconnect_waits_for_running_handlers(self, broker: Broker) -> None:
        topic, started, release = unique_topic(), asyncio.Event(), asyncio.Event()
        finished: list[bytes] = []

        async def slow(message: Message) -> None:
            started.set()
            await release.wait()
            finished.append(message.data)

        await broker.subscribe(topic, slow)
        await broker.publish(topic, b"work")
        async with asyncio.timeout(WITHIN):
            await started.wait()

        asyncio.get_running_loop().call_later(0.05, release.set)
        await broker.disconnect()

        assert finished == [b"work"]

    async def test_a_raising_handler_is_logged_and_later_messages_still_arrive(
        self, broker: Broker, caplog: pytest.LogCaptureFixture
    ) -> None:
        topic, inbox = unique_topic(), Inbox(fail_on=lambda m: m.data == b"bad")
        await broker.subscribe(topic, inbox)

        await broker.publish(topic, b"bad")
        await broker.publish(topic, b"good")

        await inbox.wait_for(lambda inbox: b"good" in inbox.data)

        def logged_with_traceback() -> bool:  # handlers may run at once: in any order
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            return any(topic in r.getMessage() and r.exc_info for r in errors)

        await eventually(logged_with_traceback, waiting_for="the handler's error in the log")

    async def test_connected_says_whether_it_can_deliver(self, unconnected: Broker) -> None:
        assert unconnected.connected is False
        await unconnected.connect()
        try:
            assert unconnected.connected is True
        finally:
            await unconnected.disconnect()
        assert unconnected.connected is False

    async def test_publish_before_connect_is_refused(self, unconnected: Broker) -> None:
        with pytest.raises(Unavailable, match=f"broker {unconnected.name} is not connected"):
            await unconnected.publish(unique_topic(), b"too early")


class AtLeastOnceContract(BrokerContract):
    """The tests of a broker that delivers at least once (JetStream, RabbitMQ):
    the contract, and a message whose handler raised comes again."""

    async def test_a_message_whose_handler_raised_is_delivered_again(self, broker: Broker) -> None:
        topic = unique_topic()
        inbox = Inbox(fail_on=lambda m: len(inbox.messages) == 1)  # only the first attempt
        await broker.subscribe(topic, inbox, queue="mailers")

        await broker.publish(topic, b"welcome", {"Micro-Id": "42"})

        await inbox.wait_until_received(2)
        first, again = inbox.messages
        assert again.data == first.data == b"welcome"
        assert again.headers["Micro-Id"] == "42"
