"""The RabbitMQ broker passes micro's broker contract against the RabbitMQ
at `RABBITMQ_URL`. Each test has an exchange of its own (`micro.test.<id>`),
and its exchanges and queues are deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from micro import plugins
from micro.broker import Broker
from micro.config import Options
from micro.errors import Unavailable
from micro.testing import AtLeastOnceContract, eventually
from micro.testing.broker_contract import Inbox, unique_topic
from micro_rabbitmq import RabbitMqBroker, routing_key


async def delete_what_it_declared(url: str, broker: RabbitMqBroker) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for queue in (*broker.durable_queues, broker.dead_letters):
            await channel.queue_delete(queue)
        for exchange in (broker.exchange, broker.dead_letters):
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.fixture
async def new_broker(rabbitmq_url: str) -> AsyncIterator[RabbitMqBroker]:
    """A broker, not yet connected, on an exchange of this test's own."""
    broker = RabbitMqBroker(rabbitmq_url, exchange=f"micro.test.{uuid.uuid4().hex[:8]}")
    yield broker
    await broker.disconnect()
    await delete_what_it_declared(rabbitmq_url, broker)


class TestRabbitMqBroker(AtLeastOnceContract):
    @pytest.fixture
    def unconnected(self, new_broker: RabbitMqBroker) -> Broker:
        return new_broker

    async def test_a_queue_group_keeps_what_was_published_while_no_member_ran(
        self, new_broker: RabbitMqBroker
    ) -> None:
        await new_broker.connect()
        topic, inbox = unique_topic(), Inbox()
        first = await new_broker.subscribe(topic, inbox, queue="mailers")
        await first.unsubscribe()

        await new_broker.publish(topic, b"while away")
        await new_broker.subscribe(topic, inbox, queue="mailers")

        await inbox.wait_until_received(1)
        assert inbox.data == [b"while away"]

    async def test_a_message_that_always_fails_is_dead_lettered_after_max_deliver(
        self, rabbitmq_url: str
    ) -> None:
        broker = RabbitMqBroker(
            rabbitmq_url, exchange=f"micro.test.{uuid.uuid4().hex[:8]}", max_deliver=3
        )
        await broker.connect()
        try:
            topic, inbox = unique_topic(), Inbox(fail_on=lambda m: True)
            await broker.subscribe(topic, inbox, queue="mailers")

            await broker.publish(topic, b"poison", {"Micro-Id": "7"})

            dead = await self._dead_letter(rabbitmq_url, broker)
            assert inbox.data == [b"poison"] * 3
            assert dead.body == b"poison"
            assert dead.headers["Micro-Id"] == "7"
        finally:
            await broker.disconnect()
            await delete_what_it_declared(rabbitmq_url, broker)

    @staticmethod
    async def _dead_letter(url: str, broker: RabbitMqBroker) -> aio_pika.abc.AbstractMessage:
        connection = await aio_pika.connect(url)
        try:
            queue = await (await connection.channel()).get_queue(broker.dead_letters)
            found: list[aio_pika.abc.AbstractIncomingMessage] = []

            async def arrived() -> bool:
                message = await queue.get(no_ack=True, fail=False)
                if message is not None:
                    found.append(message)
                return bool(found)

            await eventually(arrived, waiting_for="a dead letter")
            return found[0]
        finally:
            await connection.close()

    async def test_connecting_to_no_server_is_unavailable(self) -> None:
        broker = RabbitMqBroker("amqp://guest:secret@127.0.0.1:1/", connect_timeout=1)
        with pytest.raises(
            Unavailable, match=r"cannot connect to RabbitMQ at amqp://guest:\*\*\*@"
        ):
            await broker.connect()


def test_it_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:56720/")

    broker = plugins.broker(Options(broker="rabbitmq"))

    assert isinstance(broker, RabbitMqBroker)
    assert broker.url == "amqp://guest:guest@127.0.0.1:56720/"


@pytest.mark.parametrize(
    ("topic", "key"), [("user.created", "user.created"), ("user.*", "user.*"), ("user.>", "user.#")]
)
def test_topics_become_binding_keys(topic: str, key: str) -> None:
    assert routing_key(topic) == key
