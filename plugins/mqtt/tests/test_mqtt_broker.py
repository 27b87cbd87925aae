"""The MQTT broker passes micro's broker contract against a real Mosquitto
(started on a free port by devstack's `mqtt_url` fixture), and keeps going
when the connection drops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.mosquitto import MosquittoServer
from micro import plugins
from micro.broker import Broker
from micro.config import Options
from micro.errors import Unavailable
from micro.testing import BrokerContract, eventually
from micro.testing.broker_contract import Inbox, unique_topic
from micro_mqtt import MqttBroker
from micro_mqtt.topics import topic_filter, topic_name


class TestMqttBroker(BrokerContract):
    @pytest.fixture
    def unconnected(self, mqtt_url: str) -> Broker:
        return MqttBroker(mqtt_url)

    async def test_wildcards_mean_what_they_mean_on_nats(self, broker: Broker) -> None:
        prefix, one_token, the_rest = unique_topic(), Inbox(), Inbox()
        await broker.subscribe(f"{prefix}.*", one_token)
        await broker.subscribe(f"{prefix}.>", the_rest)

        await broker.publish(f"{prefix}.created", b"one")
        await broker.publish(f"{prefix}.created.v2", b"two")

        await the_rest.wait_until_received(2)
        await one_token.wait_until_received(1)
        assert one_token.data == [b"one"]
        assert [m.topic for m in the_rest.messages] == [f"{prefix}.created", f"{prefix}.created.v2"]

    async def test_connecting_to_no_server_is_unavailable(self) -> None:
        broker = MqttBroker("mqtt://127.0.0.1:1", connect_timeout=1)
        with pytest.raises(Unavailable, match=r"cannot connect to MQTT at mqtt://127\.0\.0\.1:1"):
            await broker.connect()


def test_it_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_URL", "mqtt://127.0.0.1:18830")

    broker = plugins.broker(Options(broker="mqtt"))

    assert isinstance(broker, MqttBroker)
    assert broker.url == "mqtt://127.0.0.1:18830"


@pytest.fixture
def restartable(
    mosquitto_server: MosquittoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MosquittoServer]:
    """A Mosquitto of this test's own, to kill and start again (skipped
    where `mosquitto_server` is)."""
    with MosquittoServer(tmp_path_factory.mktemp("mosquitto-restart")) as server:
        yield server


async def test_it_reconnects_and_subscribes_again(restartable: MosquittoServer) -> None:
    broker, topic, inbox = MqttBroker(restartable.url), unique_topic(), Inbox()
    await broker.connect()
    try:
        await broker.subscribe(topic, inbox, queue="workers")
        restartable.kill()
        await eventually(lambda: not broker.connected, waiting_for="the broker to notice")
        with pytest.raises(Unavailable, match="reconnecting"):
            await broker.publish(topic, b"while away")

        restartable.start()
        await eventually(lambda: broker.connected, waiting_for="the broker to reconnect")
        await broker.publish(topic, b"after")

        await inbox.wait_until_received(1)
        assert inbox.data == [b"after"]
    finally:
        await broker.disconnect()


@pytest.mark.parametrize(
    ("topic", "queue", "mqtt_filter"),
    [
        ("user.created", None, "user/created"),
        ("user.*", None, "user/+"),
        ("user.>", None, "user/#"),
        ("user.created", "mailers", "$share/mailers/user/created"),
    ],
)
def test_topics_become_mqtt_filters(topic: str, queue: str | None, mqtt_filter: str) -> None:
    assert topic_filter(topic, queue) == mqtt_filter


@pytest.mark.parametrize("topic", ["a/b", "a.+", "a.#", "", "user.*"])
def test_topics_mqtt_cannot_carry_are_refused(topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        topic_name(topic)
