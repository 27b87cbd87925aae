"""A service's lifetime: start, serve by name, publish and subscribe, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from micro import Client, EventInfo, Options, Service
from micro.errors import ServiceNotFound
from micro.selector import Filter, NodeMetadata, Version
from micro.testing import MemoryStack, eventually
from shippy.user.v1 import events_pb2
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

Context = grpc.aio.ServicerContext[
    vessel_pb2.FindAvailableRequest, vessel_pb2.FindAvailableResponse
]

MEMORY = Options(registry="memory", broker="memory", shutdown_timeout=5)
REQUEST = vessel_pb2.FindAvailableRequest(
    specification=vessel_pb2.Specification(capacity=3, max_weight=2000)
)
SLOW_SERVICE = Path(__file__).with_name("slow_service.py")


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        return vessel_pb2.FindAvailableResponse(
            vessel=vessel_pb2.Vessel(id="v1", name="Boaty McBoatface", capacity=500)
        )


def unique_name(kind: str = "vessel") -> str:
    return f"shippy.{kind}.{uuid.uuid4().hex[:8]}"


def vessel_service(options: Options = MEMORY) -> Service:
    service = Service(unique_name(), version="0.1.0", options=options)
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    return service


async def is_registered(service: Service) -> bool:
    try:
        await service.registry.get_service(service.name)
    except ServiceNotFound:
        return False
    return True


async def is_deregistered(service: Service) -> bool:
    return not await is_registered(service)


async def test_a_service_calls_another_by_name() -> None:
    async with MemoryStack() as stack:
        vessels = stack.service("shippy.vessel", "0.1.0")
        vessels.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
        consignments = stack.service("shippy.consignment")
        await stack.start(vessels, consignments)
        stub = consignments.client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")

        reply = await stub.FindAvailable(REQUEST)

    assert reply.vessel.name == "Boaty McBoatface"


class NamedVessels(vessel_pb2_grpc.VesselServiceServicer):
    """Answers with a vessel named after the instance that answered."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(name=self.instance))


async def test_a_canary_gets_only_the_calls_of_stubs_filtered_for_it() -> None:
    name = unique_name()
    async with MemoryStack() as stack:
        stable = stack.service(name, "1.0")
        stable.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, NamedVessels("stable"))
        canary = stack.service(name, "1.1", metadata={"track": "canary"})
        canary.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, NamedVessels("canary"))
        await stack.start(stable, canary)

        async def answers(only: Filter | None = None) -> set[str]:
            stub = stack.client.stub(vessel_pb2_grpc.VesselServiceStub, name, filter=only)
            return {(await stub.FindAvailable(REQUEST)).vessel.name for _ in range(4)}

        assert await answers(NodeMetadata(track="canary")) == {"canary"}
        assert await answers(Version("1.0")) == {"stable"}
        assert await answers() == {"stable", "canary"}
        records = await stack.registry.get_service(name)
        [canary_node] = next(r for r in records if r.version == "1.1").nodes
    assert canary_node.metadata == {"track": "canary", "version": "1.1", "protocol": "grpc"}


async def test_start_registers_the_node_with_its_endpoints_and_stop_removes_it() -> None:
    service = vessel_service()

    await service.start()
    [record] = await service.registry.get_service(service.name)
    await service.stop()

    assert record.version == "0.1.0"
    assert record.endpoints == (
        "shippy.vessel.v1.VesselService/FindAvailable",
        "shippy.vessel.v1.VesselService/Release",
        "shippy.vessel.v1.VesselService/Create",
    )
    [node] = record.nodes
    assert node.address == service.address
    assert node.metadata["version"] == "0.1.0"
    assert not await is_registered(service)


async def test_the_service_registers_again_before_its_ttl_ends() -> None:
    service = vessel_service(
        Options(registry="memory", broker="memory", register_ttl=0.5, register_interval=0.05)
    )
    watcher = service.registry.watch(service.name)
    await service.start()
    try:
        async with asyncio.timeout(5):
            async for event in watcher:
                if event.type == "update" and event.service.nodes[0].id == service.id:
                    break
    finally:
        await watcher.stop()
        await service.stop()


async def test_a_cli_client_calls_the_service_through_the_nats_registry(nats_url: str) -> None:
    options = Options(registry="nats", broker="nats", nats_url=nats_url)
    service = vessel_service(options)
    await service.start()
    try:
        async with Client.connect(options) as client:
            stub = client.stub(vessel_pb2_grpc.VesselServiceStub, service.name)

            reply = await stub.FindAvailable(REQUEST)
    finally:
        await service.stop()

    assert reply.vessel.id == "v1"
    async with Client.connect(options) as client:
        stub = client.stub(vessel_pb2_grpc.VesselServiceStub, service.name)
        with pytest.raises(ServiceNotFound, match=f'"{service.name}" not found in registry nats'):
            await stub.FindAvailable(REQUEST)


async def test_health_is_serving_once_started_and_gone_once_stopped() -> None:
    service = vessel_service()
    await service.start()
    async with grpc.aio.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="shippy.vessel.v1.VesselService")

        serving = await health.Check(request)
        await service.stop()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(request, timeout=2)

    assert serving.status == health_pb2.HealthCheckResponse.SERVING
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_follows_a_dependency_down_and_back() -> None:
    service = vessel_service()
    database_up = True

    async def database_answers() -> bool:
        return database_up

    service.depends_on("database", database_answers)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")

            async def status_is(status: int) -> bool:
                return (await health.Check(request)).status == status

            await eventually(lambda: status_is(health_pb2.HealthCheckResponse.SERVING))
            database_up = False
            await eventually(lambda: status_is(health_pb2.HealthCheckResponse.NOT_SERVING))
            database_up = True
            await eventually(lambda: status_is(health_pb2.HealthCheckResponse.SERVING))
    finally:
        await service.stop()


async def test_hooks_run_in_lifecycle_order() -> None:
    service = vessel_service()
    seen: list[str] = []

    @service.before_start
    async def prepare() -> None:
        seen.append(f"before_start registered={await is_registered(service)}")

    @service.after_start
    async def announce() -> None:
        seen.append(f"after_start registered={await is_registered(service)}")

    @service.before_stop
    async def drain() -> None:
        seen.append(f"before_stop registered={await is_registered(service)}")

    @service.after_stop
    async def goodbye() -> None:
        seen.append(f"after_stop registered={await is_registered(service)}")

    await service.start()
    await service.stop()

    assert seen == [
        "before_start registered=False",
        "after_start registered=True",
        "before_stop registered=True",
        "after_stop registered=False",
    ]


async def test_stop_is_idempotent() -> None:
    service = vessel_service()
    await service.start()

    await asyncio.gather(service.stop(), service.stop())
    await service.stop()

    assert not await is_registered(service)


async def test_a_failed_start_closes_what_it_started() -> None:
    service = vessel_service()

    @service.after_start
    async def fail() -> None:
        raise RuntimeError("the database is not there")

    with pytest.raises(RuntimeError, match="the database is not there"):
        await service.start()

    assert not await is_registered(service)
    async with grpc.aio.insecure_channel(service.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await vessel_pb2_grpc.VesselServiceStub(channel).FindAvailable(REQUEST, timeout=2)


async def test_a_subscriber_hears_another_services_publisher() -> None:
    heard: list[tuple[events_pb2.UserCreated, EventInfo]] = []
    async with MemoryStack() as stack:
        users, emails = stack.service("shippy.user"), stack.service("shippy.email")
        created = users.publisher("user.created", events_pb2.UserCreated)

        @emails.subscriber("user.created", queue="shippy.email")
        async def on_user_created(event: events_pb2.UserCreated, info: EventInfo) -> None:
            heard.append((event, info))

        await stack.start(users, emails)
        event_id = await created.publish(events_pb2.UserCreated(email="ada@example.com"))
        await stack.settle()

    [(event, info)] = heard
    assert event.email == "ada@example.com"
    assert info.id == event_id


async def test_stop_waits_for_an_event_handler_in_flight() -> None:
    topic = f"user.created.{uuid.uuid4().hex[:8]}"
    emails = Service(unique_name("email"), options=MEMORY)
    entered, release = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    @emails.subscriber(topic)
    async def on_user_created(event: events_pb2.UserCreated) -> None:
        entered.set()
        await release.wait()
        seen.append("handler finished")

    @emails.after_stop
    async def stopped() -> None:
        seen.append("stopped")

    await emails.start()
    await emails.publisher(topic, events_pb2.UserCreated).publish(events_pb2.UserCreated())
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(emails.stop())
    await eventually(lambda: is_deregistered(emails))  # stop has begun
    release.set()
    await stopping

    assert seen == ["handler finished", "stopped"]


async def test_run_serves_until_stop_is_called() -> None:
    service = vessel_service()
    running = asyncio.create_task(service.run())
    await eventually(lambda: is_registered(service))

    await service.stop()

    await asyncio.wait_for(running, 5)
    assert not await is_registered(service)


async def test_sigterm_lets_a_slow_call_finish_then_the_process_exits_cleanly() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SLOW_SERVICE),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), 30)
        address = ready.decode().removeprefix("ready ").strip()
        async with grpc.aio.insecure_channel(address) as channel:
            call = vessel_pb2_grpc.VesselServiceStub(channel).FindAvailable(REQUEST, timeout=10)
            assert await asyncio.wait_for(process.stdout.readline(), 10) == b"handling\n"

            process.send_signal(signal.SIGTERM)
            reply = await call

        stderr = await asyncio.wait_for(process.stderr.read(), 15)
        exit_code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert reply.vessel.name == "Slowboat"
    assert exit_code == 0, stderr.decode()
    assert b"received SIGTERM" in stderr
    assert b"shippy.slow stopped" in stderr
