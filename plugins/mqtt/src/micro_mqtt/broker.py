"""An MQTT 5 broker through aiomqtt: QoS 1 each way, at most once to a handler.

    broker = MqttBroker("mqtt://127.0.0.1:1883")     # MICRO_BROKER=mqtt, MQTT_URL=...

- Messages are published and subscribed with QoS 1: the server has each one
  before `publish()` returns, and hands it on until the client acknowledges
  it. aiomqtt acknowledges a message when it arrives, before the handler
  runs, so a handler that raises does not get it again: at most once.
- Headers travel as MQTT 5 user properties.
- A queue group is a shared subscription (`$share/<group>/<filter>`).
- One MQTT connection carries every subscription of the broker. Each MQTT
  subscription has a subscription identifier, so a message is handed to the
  subscriptions it was sent for; subscribers of one filter in this process
  share it (every plain one gets each message, a queue group's take turns).
- When the connection drops, the broker connects again with a growing delay
  and subscribes again to everything; meanwhile `connected` is False and
  `publish()` raises `Unavailable`. Messages sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

import aiomqtt
from micro.broker import Message, MessageHandler
from micro.errors import Unavailable
from micro.tasks import Tasks
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from micro_mqtt.topics import from_topic_name, topic_filter, topic_name

__all__ = ["DEFAULT_MQTT_URL", "MqttBroker", "MqttSubscription"]

log = logging.getLogger(__name__)

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
QOS = 1
NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class MqttSubscription:
    """One subscriber: an inbox, and the task that hands its messages to the handler."""

    def __init__(
        self, broker: MqttBroker, topic: str, handler: MessageHandler, queue: str | None
    ) -> None:
        self.topic = topic
        self.queue = queue
        self._broker = broker
        self._handler = handler
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._worker = asyncio.create_task(self._deliver_all(), name=f"mqtt broker: {topic}")
        self._closed = False

    def deliver(self, message: Message) -> None:
        if not self._closed:
            self._inbox.put_nowait(message)

    async def unsubscribe(self) -> None:
        """Stop taking messages, finish the ones already received, then return."""
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(None)
            await self._broker._forget(self)
        await self._worker

    async def _deliver_all(self) -> None:
        while (message := await self._inbox.get()) is not None:
            try:
                await self._handler(message)
            except Exception:
                log.exception("handler of topic %s raised", message.topic)


@dataclass
class _Filter:
    """One MQTT subscription and the subscribers in this process it feeds."""

    mqtt_filter: str
    identifier: int
    shared: bool
    members: list[MqttSubscription] = field(default_factory=list)
    _turns: Iterator[int] = field(default_factory=itertools.count)

    def deliver(self, message: Message) -> None:
        if not self.members:
            return
        if self.shared:
            self.members[next(self._turns) % len(self.members)].deliver(message)
        else:
            for member in self.members:
                member.deliver(message)


class MqttBroker:
    name = "mqtt"

    def __init__(
        self,
        url: str = DEFAULT_MQTT_URL,
        *,
        connect_timeout: float = 5.0,
        reconnect_delays: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        """`url`: mqtt://[user[:password]@]host[:port]. `reconnect_delays`:
        the first and the longest wait between two attempts to reconnect."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"MQTT_URL={url!r}: must look like mqtt://host:port")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or 1883
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._connect_timeout = connect_timeout
        self._reconnect_delays = reconnect_delays
        self._client: aiomqtt.Client | None = None
        self._online = False
        self._filters: dict[str, _Filter] = {}
        self._by_identifier: dict[int, _Filter] = {}
        self._identifiers = itertools.count(1)
        self._tasks = Tasks("mqtt broker")

    @property
    def connected(self) -> bool:
        return self._online

    async def connect(self) -> None:
        if self._client is not None:
            return
        self._tasks = Tasks("mqtt broker")
        first_connection: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V5,
            timeout=self._connect_timeout,
            logger=log,
        )
        self._tasks.spawn(self._stay_connected(self._client, first_connection), name="connection")
        try:
            await first_connection
        except BaseException:
            await self._tasks.aclose()
            self._client = None
            raise

    async def disconnect(self) -> None:
        """Stop delivering, let running handlers finish, then close."""
        members = [m for f in list(self._filters.values()) for m in f.members]
        await asyncio.gather(*(m.unsubscribe() for m in members))
        await self._tasks.aclose()  # leaves the client's `async with`: a clean DISCONNECT
        self._client = None
        self._online = False

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        client = self._check_connected()
        properties = _properties(PacketTypes.PUBLISH)
        if headers:
            properties.UserProperty = list(headers.items())
        try:
            await client.publish(topic_name(topic), data, qos=QOS, properties=properties)
        except aiomqtt.MqttError as error:
            raise Unavailable(f"broker mqtt: cannot publish to {self.url}: {error}") from error

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> MqttSubscription:
        client = self._check_connected()
        mqtt_filter = topic_filter(topic, queue)
        subscription = MqttSubscription(self, topic, handler, queue)
        known = self._filters.get(mqtt_filter)
        if known is None:
            known = _Filter(mqtt_filter, next(self._identifiers), shared=queue is not None)
            self._filters[mqtt_filter] = known
            self._by_identifier[known.identifier] = known
            known.members.append(subscription)
            try:
                await self._subscribe(client, known)
            except aiomqtt.MqttError as error:
                # Subscribed again when the connection is back.
                log.warning("broker mqtt: subscribe to %s failed: %s", mqtt_filter, error)
        else:
            known.members.append(subscription)
        return subscription

    async def _forget(self, subscription: MqttSubscription) -> None:
        mqtt_filter = topic_filter(subscription.topic, subscription.queue)
        known = self._filters.get(mqtt_filter)
        if known is None or subscription not in known.members:
            return
        known.members.remove(subscription)
        if known.members:
            return
        del self._filters[mqtt_filter]
        del self._by_identifier[known.identifier]
        if self._client is not None and self._online:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.unsubscribe(mqtt_filter)

    async def _subscribe(self, client: aiomqtt.Client, known: _Filter) -> None:
        properties = _properties(PacketTypes.SUBSCRIBE)
        properties.SubscriptionIdentifier = known.identifier
        await client.subscribe(known.mqtt_filter, qos=QOS, properties=properties)

    async def _stay_connected(
        self, client: aiomqtt.Client, first_connection: asyncio.Future[None]
    ) -> None:
        """Connect, subscribe to everything, hand messages on; again when the connection drops."""
        delay = self._reconnect_delays[0]
        while True:
            try:
                async with client:
                    for known in list(self._filters.values()):
                        await self._subscribe(client, known)
                    self._online = True
                    delay = self._reconnect_delays[0]
                    if not first_connection.done():
                        first_connection.set_result(None)
                    else:
                        log.info("broker mqtt: connected again to %s", self.url)
                    async for received in client.messages:
                        self._dispatch(received)
            except aiomqtt.MqttError as error:
                self._online = False
                if not first_connection.done():
                    first_connection.set_exception(
                        Unavailable(f"broker mqtt: cannot connect to MQTT at {self.url}: {error}")
                    )
                    return
                log.warning(
                    "broker mqtt: lost %s (%s); connecting again in %.1fs", self.url, error, delay
                )
            await asyncio.sleep(delay)  # a backoff between attempts, not a poll
            delay = min(2 * delay, self._reconnect_delays[1])

    def _dispatch(self, received: aiomqtt.Message) -> None:
        properties = received.properties
        identifiers: list[int] = getattr(properties, "SubscriptionIdentifier", [])
        headers = dict(getattr(properties, "UserProperty", ())) or NO_HEADERS
        payload = received.payload
        data = payload if isinstance(payload, bytes) else str(payload).encode()
        message = Message(from_topic_name(received.topic.value), data, headers)
        for identifier in identifiers:
            known = self._by_identifier.get(identifier)
            if known is not None:
                known.deliver(message)

    def _check_connected(self) -> aiomqtt.Client:
        if self._client is None:
            raise Unavailable("broker mqtt is not connected: call connect() first")
        if not self._online:
            raise Unavailable(f"broker mqtt: not connected to MQTT at {self.url}: reconnecting")
        return self._client


def _properties(packet_type: int) -> Properties:
    """MQTT 5 properties of a packet (paho's class has no annotations)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]
