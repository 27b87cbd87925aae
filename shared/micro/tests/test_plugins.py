"""Plugins: found by name through entry points, or passed as instances; and
services in one process that share nothing unless they share it on purpose."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from micro import EventInfo, Options, Service, plugins
from micro.broker import Message
from micro.broker.memory import MemoryBroker
from micro.config import ConfigError
from micro.errors import ServiceNotFound
from micro.registry.memory import MemoryRegistry
from micro.testing import MemoryStack
from shippy.user.v1 import events_pb2
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

LOCAL = Options(registry="memory", broker="memory", shutdown_timeout=5)


class RecordingBroker(MemoryBroker):
    """A broker a test defines: a memory broker that keeps what it was asked to publish."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Message] = []

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.published.append(Message(topic, data, dict(headers or {})))
        await super().publish(topic, data, headers)


MADE: list[RecordingBroker] = []


def make_recording_broker(options: Options) -> RecordingBroker:
    """The entry point's factory: what `MICRO_BROKER=recording` calls."""
    MADE.append(RecordingBroker())
    return MADE[-1]


@pytest.fixture
def recording_plugin(tmp_path: Path) -> Iterator[None]:
    """Installs a distribution whose only content is an entry point in
    "micro.brokers", as a plugin package's pyproject.toml would declare it."""
    dist = tmp_path / "micro_recording-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: micro-recording\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""\
            [micro.brokers]
            recording = {__name__}:make_recording_broker
        """)
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        MADE.clear()


async def test_a_broker_installed_under_an_entry_point_name_is_used_by_name(
    recording_plugin: None,
) -> None:
    service = Service("shippy.user", options=Options(registry="memory", broker="recording"))
    created = service.publisher("user.created", events_pb2.UserCreated)
    await service.start()
    try:
        await created.publish(events_pb2.UserCreated(email="ada@example.com"))
    finally:
        await service.stop()

    [broker] = MADE
    assert service.broker is broker
    [message] = broker.published
    assert message.topic == "user.created"
    assert events_pb2.UserCreated.FromString(message.data).email == "ada@example.com"


def test_the_plugin_is_listed_among_the_installed_ones(recording_plugin: None) -> None:
    assert {"memory", "nats", "jetstream", "recording"} <= set(plugins.installed("broker"))


def test_an_unknown_plugin_name_is_a_one_line_error_listing_the_installed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        Service("shippy.user", options=Options(registry="memory", broker="kafka"))

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("MICRO_BROKER='kafka': no broker plugin of that name is installed")
    listed = message.partition("(installed: ")[2].rstrip(")").split(", ")
    assert {"jetstream", "memory", "nats"} <= set(listed)
    assert listed == sorted(listed)


async def test_a_broker_passed_as_an_instance_is_used_and_stays_the_callers() -> None:
    broker = RecordingBroker()
    heard: list[str] = []
    service = Service("shippy.email", options=LOCAL, broker=broker)

    @service.subscriber("user.created")
    async def on_user_created(event: events_pb2.UserCreated, info: EventInfo) -> None:
        heard.append(event.email)

    await service.start()
    await broker.publish(
        "user.created", events_pb2.UserCreated(email="ada@x.io").SerializeToString()
    )
    await broker.settle()
    await service.stop()

    assert heard == ["ada@x.io"]
    # The service unsubscribed what it subscribed, and left the broker connected.
    await broker.publish("user.created", b"after the service stopped")
    assert len(broker.published) == 2


async def test_two_services_on_memory_by_name_do_not_see_each_other() -> None:
    vessels = Service("shippy.vessel", options=LOCAL)
    vessels.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    users = Service("shippy.user", options=LOCAL)
    heard: list[events_pb2.UserCreated] = []

    @vessels.subscriber("user.created")
    async def on_user_created(event: events_pb2.UserCreated) -> None:
        heard.append(event)

    await vessels.start()
    await users.start()
    try:
        await users.publisher("user.created", events_pb2.UserCreated).publish(
            events_pb2.UserCreated(email="ada@example.com")
        )
        assert isinstance(vessels.broker, MemoryBroker)
        await vessels.broker.settle()
        with pytest.raises(ServiceNotFound):
            await users.client.stub(
                vessel_pb2_grpc.VesselServiceStub, "shippy.vessel"
            ).FindAvailable(vessel_pb2.FindAvailableRequest())
    finally:
        await users.stop()
        await vessels.stop()

    assert vessels.broker is not users.broker
    assert vessels.registry is not users.registry
    assert heard == []


async def test_services_that_share_a_registry_and_broker_on_purpose_see_each_other() -> None:
    registry, broker = MemoryRegistry(), MemoryBroker()
    await broker.connect()
    vessels = Service("shippy.vessel", options=LOCAL, registry=registry, broker=broker)
    vessels.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    users = Service("shippy.user", options=LOCAL, registry=registry, broker=broker)
    await vessels.start()
    await users.start()
    try:
        stub = users.client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")
        reply = await stub.FindAvailable(vessel_pb2.FindAvailableRequest())
    finally:
        await users.stop()
        await vessels.stop()
        await broker.disconnect()

    assert reply.vessel.id == "v1"


async def test_two_local_stacks_in_one_process_are_separate() -> None:
    async with MemoryStack() as first, MemoryStack() as second:
        vessels = first.service("shippy.vessel")
        vessels.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
        await first.start(vessels)

        found = await first.client.stub(
            vessel_pb2_grpc.VesselServiceStub, "shippy.vessel"
        ).FindAvailable(vessel_pb2.FindAvailableRequest())
        with pytest.raises(ServiceNotFound):
            await second.client.stub(
                vessel_pb2_grpc.VesselServiceStub, "shippy.vessel"
            ).FindAvailable(vessel_pb2.FindAvailableRequest())

    assert found.vessel.id == "v1"


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(
        self, request: object, context: object
    ) -> vessel_pb2.FindAvailableResponse:
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(id="v1"))
