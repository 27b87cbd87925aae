"""What only the NATS transport does: queue groups, streaming refused clearly,
"no responders", and the services API (answered by gRPC services too)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import grpc.aio
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from micro.broker.nats import NatsBroker
from micro.client import Client
from micro.errors import Unavailable, Unimplemented
from micro.nats_transport import NatsTransport, instance_address
from micro.registry.memory import MemoryRegistry
from micro.selector import Selector
from micro.service import Service
from micro.testing.memory import MEMORY
from micro.testing.transport_contract import Probe, ProbeStub, add_probe_to_server, echo
from micro.transport import GrpcTransport, Transport
from shippy.testing.v1 import streams_pb2_grpc
from shippy.testing.v1.streams_pb2 import Number

from .test_streaming import Numbers


async def started(
    name: str, registry: MemoryRegistry, transport: Transport, nats_url: str, **parts: Any
) -> tuple[Service, Probe]:
    options = replace(MEMORY, nats_url=nats_url)  # where a gRPC service answers the services API
    service = Service(name, "1.2.0", options, registry=registry, transport=transport, **parts)
    probe = Probe(echo)
    service.handle(add_probe_to_server, probe)
    await service.start()
    return service, probe


@pytest.fixture
async def client(registry: MemoryRegistry, nats_url: str) -> AsyncIterator[Client]:
    selector = Selector(registry)
    client = Client(registry, selector, transport=NatsTransport(nats_url))
    yield client
    await client.close()
    await client.transport.close()
    await selector.close()


def unique_name() -> str:
    return f"test.nats.{uuid.uuid4().hex[:8]}"


async def test_two_instances_share_the_calls_in_one_queue_group(
    registry: MemoryRegistry, client: Client, nats_url: str
) -> None:
    name = unique_name()
    first, first_probe = await started(name, registry, NatsTransport(nats_url), nats_url)
    second, second_probe = await started(name, registry, NatsTransport(nats_url), nats_url)
    try:
        stub = client.stub(ProbeStub, name)
        for _ in range(40):
            await stub.Call(b"x")
    finally:
        await first.stop()
        await second.stop()
    assert len(first_probe.seen) + len(second_probe.seen) == 40
    assert first_probe.seen, "the first instance got no call"
    assert second_probe.seen, "the second instance got no call"


async def test_a_streaming_method_is_unimplemented_over_nats(
    registry: MemoryRegistry, client: Client, nats_url: str
) -> None:
    name = unique_name()
    service, _ = await started(name, registry, NatsTransport(nats_url), nats_url)
    try:
        channel = NatsTransport(nats_url).channel(service.address)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        with pytest.raises(
            grpc.aio.AioRpcError, match="streaming calls work over gRPC only"
        ) as raised:
            await watch.read()
        assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED

        # A raw NATS request to its subject gets the same answer, in ADR-32's headers.
        nc = await nats.connect(nats_url)
        reply = await nc.request(f"{service.address}.grpc.health.v1.Health.Watch", b"")
        await nc.close()
    finally:
        await service.stop()
    assert reply.headers is not None
    assert reply.headers["Nats-Service-Error-Code"] == "12"  # UNIMPLEMENTED
    assert "streaming" in reply.headers["Nats-Service-Error"]


async def test_a_service_no_instance_serves_any_more_is_unavailable(
    registry: MemoryRegistry, client: Client, nats_url: str
) -> None:
    name = unique_name()
    service, _ = await started(name, registry, NatsTransport(nats_url), nats_url)
    stub = client.stub(ProbeStub, name)
    await stub.Call(b"x")
    record = service._record
    await service.stop()
    assert record is not None
    await registry.register(record, ttl=30)  # as if it died: still registered

    with pytest.raises(Unavailable, match="nothing is listening"):
        await stub.Call(b"x")


async def test_each_instance_answers_its_health_on_its_own_subject(
    registry: MemoryRegistry, nats_url: str
) -> None:
    name = unique_name()
    service, _ = await started(name, registry, NatsTransport(nats_url), nats_url)
    transport = NatsTransport(nats_url)
    try:
        health = health_pb2_grpc.HealthStub(transport.channel(instance_address(name, service.id)))
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    finally:
        await transport.close()
        await service.stop()
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def ask(nats_url: str, subject: str) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    try:
        return json.loads((await nc.request(subject, b"", timeout=2)).data)  # type: ignore[no-any-return]
    finally:
        await nc.close()


async def test_a_grpc_service_answers_the_services_api_with_its_address(
    registry: MemoryRegistry, nats_url: str
) -> None:
    name = unique_name()
    broker = NatsBroker(nats_url)  # a NATS broker: so there is a NATS to answer on
    service, _ = await started(name, registry, GrpcTransport(), nats_url, broker=broker)
    try:
        stub = Client(registry, Selector(registry)).stub(ProbeStub, name)
        await stub.Call(b"counted")
        adr_name = name.replace(".", "_")
        ping = await ask(nats_url, f"$SRV.PING.{adr_name}")
        info = await ask(nats_url, f"$SRV.INFO.{adr_name}")
        stats = await ask(nats_url, f"$SRV.STATS.{adr_name}.{ping['id']}")
    finally:
        await service.stop()
        await broker.disconnect()
    assert ping == {
        "type": "io.nats.micro.v1.ping_response",
        "name": adr_name,
        "id": ping["id"],
        "version": "1.2.0",
        "metadata": {"micro_service": name, "protocol": "grpc", "grpc_address": service.address},
    }
    assert info["type"] == "io.nats.micro.v1.info_response"
    assert [e["metadata"]["grpc_method"] for e in info["endpoints"]] == ["/test.Probe/Call"]
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    [call] = stats["endpoints"]
    assert (call["num_requests"], call["num_errors"]) == (1, 0)
    assert call["processing_time"] > 0
    assert set(call) >= {"name", "subject", "queue_group", "average_processing_time", "last_error"}
    assert stats["started"].endswith("Z")


async def test_streaming_calls_by_name_to_a_nats_service_are_unimplemented_clearly(
    registry: MemoryRegistry, client: Client, nats_url: str
) -> None:
    name = unique_name()
    options = replace(MEMORY, nats_url=nats_url)
    transport = NatsTransport(nats_url)
    service = Service(name, options=options, registry=registry, transport=transport)
    service.handle(streams_pb2_grpc.add_NumbersServicer_to_server, Numbers())
    await service.start()
    numbers = client.stub(streams_pb2_grpc.NumbersStub, name)

    async def some() -> AsyncIterator[Number]:
        yield Number(value=1)

    try:
        assert (await numbers.Next(Number(value=1))).value == 2  # unary works
        with pytest.raises(Unimplemented, match="streaming calls work over gRPC only"):
            async for _ in numbers.Count(Number(value=3)):
                pass  # pragma: no cover
        with pytest.raises(Unimplemented, match="streaming calls work over gRPC only"):
            await numbers.Sum(some())
        with pytest.raises(Unimplemented, match="streaming calls work over gRPC only"):
            async for _ in numbers.Double(some()):
                pass  # pragma: no cover
    finally:
        await service.stop()
        await transport.close()


async def test_concurrent_calls_each_get_their_own_reply_and_a_late_reply_is_dropped(
    nats_url: str,
) -> None:
    """Replies share one subscription per connection (micro.nats_transport.Replies):
    each must reach its own caller, and one that comes after its caller gave
    up must reach no one, not the next call."""
    transport = NatsTransport(nats_url)
    address = f"micro.rpc.{unique_name()}"
    method = transport.channel(address).unary_unary("/test.Echo/Call")
    responder = await nats.connect(nats_url)
    gave_up = asyncio.Event()

    async def answer(msg: Any) -> None:
        if msg.data == b"late":
            await gave_up.wait()
            await msg.respond(b"late answer")
        else:
            await msg.respond(msg.data[::-1])

    await responder.subscribe(f"{address}.test.Echo.Call", cb=answer)
    await responder.flush()
    try:
        words = [f"call {n}".encode() for n in range(50)]
        answers = await asyncio.gather(*(method(word, timeout=5) for word in words))
        assert answers == [word[::-1] for word in words]

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await method(b"late", timeout=0.2)
        assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        gave_up.set()  # its answer is sent now, to a caller that is gone
        await responder.flush()
        assert await method(b"next", timeout=5) == b"txen"
    finally:
        await responder.close()
        await transport.close()
