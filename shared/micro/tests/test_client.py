"""Calling a service by name: node selection, deadlines, errors, and retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import grpc
import grpc.aio
import pytest
from devstack.ports import free_port
from micro.client import Client
from micro.config import Options
from micro.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    ServiceNotFound,
    Unavailable,
)
from micro.registry import Node, ServiceRecord
from micro.registry.memory import MemoryRegistry
from micro.selector import NodeMetadata, Selector, Version
from micro.server import Server
from micro.testing import eventually, unique_name
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

Context = grpc.aio.ServicerContext[
    vessel_pb2.FindAvailableRequest, vessel_pb2.FindAvailableResponse
]
Behaviour = Callable[
    [vessel_pb2.FindAvailableRequest, Context], Awaitable[vessel_pb2.FindAvailableResponse]
]

REQUEST = vessel_pb2.FindAvailableRequest(
    specification=vessel_pb2.Specification(capacity=3, max_weight=2000)
)


async def boaty(
    request: vessel_pb2.FindAvailableRequest, context: Context
) -> vessel_pb2.FindAvailableResponse:
    return vessel_pb2.FindAvailableResponse(
        vessel=vessel_pb2.Vessel(id="v1", name="Boaty McBoatface", capacity=500, max_weight=200000)
    )


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    """FindAvailable answers with `behaviour`, and counts its calls."""

    def __init__(self, behaviour: Behaviour = boaty) -> None:
        self.behaviour = behaviour
        self.calls = 0

    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        self.calls += 1
        return await self.behaviour(request, context)


@pytest.fixture
async def client(registry: MemoryRegistry) -> AsyncIterator[Client]:
    selector = Selector(registry)
    client = Client(registry, selector, timeout=5.0)
    yield client
    await client.close()
    await selector.close()


@asynccontextmanager
async def serving(servicer: Vessels) -> AsyncIterator[str]:
    """A real gRPC server for `servicer` on a free port; yields its address."""
    server = Server("127.0.0.1:0")
    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, servicer)
    address = await server.start()
    try:
        yield address
    finally:
        await server.stop(grace=1)


async def register(registry: MemoryRegistry, name: str, *addresses: str) -> None:
    nodes = tuple(Node(f"{name}-{i}", address) for i, address in enumerate(addresses))
    await registry.register(ServiceRecord(name, "1.0.0", nodes), ttl=60)


async def test_calls_a_service_by_name(registry: MemoryRegistry, client: Client) -> None:
    name = unique_name()
    async with serving(Vessels()) as address:
        await register(registry, name, address)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        reply = await vessels.FindAvailable(REQUEST)

    assert reply.vessel.name == "Boaty McBoatface"


async def test_a_handlers_micro_error_reaches_the_caller_as_the_same_class(
    registry: MemoryRegistry, client: Client
) -> None:
    async def refuse(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        raise InvalidArgument("specification.capacity", "must be more than 0")

    name = unique_name()
    async with serving(Vessels(refuse)) as address:
        await register(registry, name, address)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        with pytest.raises(InvalidArgument) as caught:
            await vessels.FindAvailable(REQUEST)

    assert caught.value.field == "specification.capacity"
    assert caught.value.reason == "must be more than 0"


async def test_an_unexpected_exception_reaches_the_caller_as_internal_without_details(
    registry: MemoryRegistry, client: Client
) -> None:
    async def crash(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        raise KeyError("secret internals")

    name = unique_name()
    async with serving(Vessels(crash)) as address:
        await register(registry, name, address)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        with pytest.raises(Internal, match=r"^internal error$"):
            await vessels.FindAvailable(REQUEST)


async def test_an_unknown_service_is_an_error_naming_it_at_once(client: Client) -> None:
    vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.nowhere")
    started = time.monotonic()

    with pytest.raises(
        ServiceNotFound, match=r'^service "shippy\.nowhere" not found in registry memory$'
    ):
        await vessels.FindAvailable(REQUEST)

    assert time.monotonic() - started < 1.0


async def test_a_call_that_outlives_its_deadline_fails_naming_the_service_and_method(
    registry: MemoryRegistry, client: Client
) -> None:
    never = asyncio.Event()

    async def hang(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        await never.wait()
        raise AssertionError("unreachable")

    name = unique_name()
    async with serving(Vessels(hang)) as address:
        await register(registry, name, address)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)
        started = time.monotonic()

        with pytest.raises(DeadlineExceeded) as caught:
            await vessels.FindAvailable(REQUEST, timeout=0.2)

        assert 0.2 <= time.monotonic() - started < 2.0
    assert name in str(caught.value)
    assert "FindAvailable" in str(caught.value)


async def test_the_client_timeout_is_the_default_deadline(registry: MemoryRegistry) -> None:
    never = asyncio.Event()

    async def hang(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        await never.wait()
        raise AssertionError("unreachable")

    name = unique_name()
    selector = Selector(registry)
    client = Client(registry, selector, timeout=0.2)
    try:
        async with serving(Vessels(hang)) as address:
            await register(registry, name, address)
            vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

            with pytest.raises(DeadlineExceeded):
                await vessels.FindAvailable(REQUEST)
    finally:
        await client.close()
        await selector.close()


async def test_metadata_reaches_the_handler(registry: MemoryRegistry, client: Client) -> None:
    seen: dict[str, str | bytes] = {}

    async def remember(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        seen.update(context.invocation_metadata() or ())
        return await boaty(request, context)

    name = unique_name()
    async with serving(Vessels(remember)) as address:
        await register(registry, name, address)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        await vessels.FindAvailable(REQUEST, metadata=[("token", "abc.def")])

    assert seen["token"] == "abc.def"


async def test_a_node_that_refuses_connections_is_skipped(
    registry: MemoryRegistry, client: Client
) -> None:
    name = unique_name()
    servicer = Vessels()
    dead = f"127.0.0.1:{free_port()}"
    async with serving(servicer) as live:
        await register(registry, name, dead, live)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        replies = [await vessels.FindAvailable(REQUEST) for _ in range(4)]

    assert all(reply.vessel.id == "v1" for reply in replies)
    assert servicer.calls == 4


async def test_no_reachable_node_is_unavailable_naming_the_service(
    registry: MemoryRegistry, client: Client
) -> None:
    name = unique_name()
    await register(registry, name, f"127.0.0.1:{free_port()}")
    vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

    with pytest.raises(Unavailable, match=f'service "{name}": no node reachable'):
        await vessels.FindAvailable(REQUEST)


async def test_a_request_the_server_answered_unavailable_is_not_sent_again(
    registry: MemoryRegistry, client: Client
) -> None:
    async def busy(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        raise Unavailable("the fleet database is down")

    name = unique_name()
    servicer = Vessels(busy)
    async with serving(servicer) as first, serving(servicer) as second:
        await register(registry, name, first, second)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

        with pytest.raises(Unavailable, match="the fleet database is down"):
            await vessels.FindAvailable(REQUEST)

    assert servicer.calls == 1


async def test_client_connect_opens_and_closes_its_own_registry_and_selector() -> None:
    async with (
        serving(Vessels()) as address,
        Client.connect(Options(registry="memory")) as client,
    ):
        record = ServiceRecord(unique_name(), "1.0.0", (Node("n1", address),))
        await client.registry.register(record, ttl=60)
        vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, record.name)

        reply = await vessels.FindAvailable(REQUEST)

        await client.registry.deregister(record)
    assert reply.vessel.id == "v1"


async def test_a_filtered_stub_calls_only_the_nodes_of_that_version_or_metadata(
    registry: MemoryRegistry, client: Client
) -> None:
    stable, canary = Vessels(), Vessels()
    name = unique_name()
    async with serving(stable) as stable_address, serving(canary) as canary_address:
        await registry.register(ServiceRecord(name, "1.0", (Node("s", stable_address),)), ttl=60)
        canary_node = Node("c", canary_address, {"track": "canary"})
        await registry.register(ServiceRecord(name, "2.0", (canary_node,)), ttl=60)
        by_version = client.stub(vessel_pb2_grpc.VesselServiceStub, name, filter=Version("2.0"))
        by_metadata = client.stub(
            vessel_pb2_grpc.VesselServiceStub, name, filter=NodeMetadata(track="canary")
        )
        stable_only = client.stub(vessel_pb2_grpc.VesselServiceStub, name, filter=Version("1.0"))

        for _ in range(3):
            await by_version.FindAvailable(REQUEST)
            await by_metadata.FindAvailable(REQUEST)
        await stable_only.FindAvailable(REQUEST)

    assert (stable.calls, canary.calls) == (1, 6)


async def test_a_filter_that_leaves_no_node_names_the_service_and_the_filter(
    registry: MemoryRegistry, client: Client
) -> None:
    name = unique_name()
    async with serving(Vessels()) as address:
        await register(registry, name, address)
        vessels = client.stub(
            vessel_pb2_grpc.VesselServiceStub,
            name,
            filter=Version("2.0") & NodeMetadata(track="canary"),
        )

        with pytest.raises(ServiceNotFound) as caught:
            await vessels.FindAvailable(REQUEST)

    assert str(caught.value) == (
        f'service "{name}" not found in registry memory: '
        'none of its 1 nodes has version "2.0" and metadata track="canary"'
    )


async def test_least_outstanding_sends_the_next_call_to_the_node_with_fewer_in_flight(
    registry: MemoryRegistry,
) -> None:
    release = asyncio.Event()

    async def held(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        await release.wait()
        return await boaty(request, context)

    busy, free = Vessels(held), Vessels()
    name = unique_name()
    selector = Selector(registry, "least_outstanding")
    client = Client(registry, selector, timeout=5.0)
    try:
        async with serving(busy) as busy_address, serving(free) as free_address:
            busy_node, free_node = Node("busy", busy_address), Node("free", free_address)
            await registry.register(ServiceRecord(name, "1.0.0", (busy_node,)), ttl=60)
            vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, name)

            async def find() -> vessel_pb2.FindAvailableResponse:
                return await vessels.FindAvailable(REQUEST)

            in_flight = [asyncio.create_task(find()) for _ in range(3)]
            await eventually(lambda: busy.calls == 3, waiting_for="three calls held")
            await registry.register(ServiceRecord(name, "1.0.0", (free_node,)), ttl=60)
            selector.invalidate(name)

            for _ in range(5):
                await vessels.FindAvailable(REQUEST)

            assert (busy.calls, free.calls) == (3, 5)
            assert selector.outstanding(busy_node) == 3
            release.set()
            await asyncio.gather(*in_flight)
        assert selector.outstanding(busy_node) == 0
    finally:
        await client.close()
        await selector.close()


def test_a_method_the_stub_does_not_have_is_an_attribute_error_naming_it(client: Client) -> None:
    vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")

    with pytest.raises(AttributeError, match="has no method 'FindAnything'"):
        vessels.FindAnything  # noqa: B018 (the attribute lookup is the act)
