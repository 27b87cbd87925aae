"""The gRPC server as any gRPC client sees it: errors, health, reflection."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from micro.errors import InvalidArgument, Unauthenticated
from micro.reflection import METHOD, SERVICE_NAME
from micro.server import Server
from micro.testing import eventually
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

Context = grpc.aio.ServicerContext[
    vessel_pb2.FindAvailableRequest, vessel_pb2.FindAvailableResponse
]
Behaviour = Callable[
    [vessel_pb2.FindAvailableRequest, Context], Awaitable[vessel_pb2.FindAvailableResponse]
]

SERVICE = "shippy.vessel.v1.VesselService"
REQUEST = vessel_pb2.FindAvailableRequest(
    specification=vessel_pb2.Specification(capacity=3, max_weight=2000)
)
REFLECTED_SERVICE = Path(__file__).with_name("reflected_service.py")


async def boaty(
    request: vessel_pb2.FindAvailableRequest, context: Context
) -> vessel_pb2.FindAvailableResponse:
    return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(id="v1", name="Boaty"))


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    """FindAvailable answers with `behaviour`; Create is left unimplemented."""

    def __init__(self, behaviour: Behaviour = boaty) -> None:
        self.behaviour = behaviour

    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        return await self.behaviour(request, context)


class Connection:
    """A plain grpc.aio channel to a started `Server`."""

    def __init__(self, server: Server, channel: grpc.aio.Channel) -> None:
        self.server = server
        self.channel = channel
        self.vessels = vessel_pb2_grpc.VesselServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)


@asynccontextmanager
async def connect(
    behaviour: Behaviour = boaty, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
) -> AsyncIterator[Connection]:
    """A started server for `Vessels(behaviour)`, and a channel to it."""
    server = Server("127.0.0.1:0", interceptors)
    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels(behaviour))
    address = await server.start()
    async with grpc.aio.insecure_channel(address) as channel:
        yield Connection(server, channel)
    await server.stop(grace=1)


@pytest.fixture
async def served() -> AsyncIterator[Connection]:
    async with connect() as connection:
        yield connection


def test_handle_records_the_service_and_its_endpoints() -> None:
    server = Server()

    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())

    assert server.service_names == (SERVICE,)
    assert server.endpoints == (
        f"{SERVICE}/FindAvailable",
        f"{SERVICE}/Release",
        f"{SERVICE}/Create",
    )


async def test_a_handler_answers_through_the_server(served: Connection) -> None:
    reply = await served.vessels.FindAvailable(REQUEST)

    assert reply.vessel.name == "Boaty"
    assert served.server.address.startswith("127.0.0.1:")


async def test_invalid_argument_becomes_its_status_code_naming_the_field() -> None:
    async def refuse(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        raise InvalidArgument("specification.capacity", "must be more than 0")

    async with connect(refuse) as served:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await served.vessels.FindAvailable(REQUEST)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "specification.capacity: must be more than 0"


async def test_an_unexpected_exception_is_internal_and_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        raise KeyError("secret internals")

    async with connect(crash) as served:
        with (
            caplog.at_level(logging.ERROR, logger="micro.server"),
            pytest.raises(grpc.aio.AioRpcError) as caught,
        ):
            await served.vessels.FindAvailable(REQUEST)

    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    [record] = [r for r in caplog.records if r.name == "micro.server"]
    assert f"/{SERVICE}/FindAvailable" in record.getMessage()
    assert record.exc_info is not None
    assert "secret internals" in caplog.text


async def test_a_handler_may_still_abort_with_any_status_itself() -> None:
    async def gone(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the fleet is at sea")

    async with connect(gone) as served:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await served.vessels.FindAvailable(REQUEST)

    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == "the fleet is at sea"


async def test_a_method_the_servicer_does_not_implement_is_unimplemented(
    served: Connection,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.vessels.Create(vessel_pb2.CreateRequest())

    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


class RequireToken(grpc.aio.ServerInterceptor):
    """An auth wrapper: a call without a "token" is refused before its handler runs."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        if not any(key == "token" for key, _ in handler_call_details.invocation_metadata or ()):
            raise Unauthenticated("a token is required")
        return await continuation(handler_call_details)


async def test_a_micro_error_raised_by_an_interceptor_reaches_the_caller() -> None:
    async with connect(interceptors=[RequireToken()]) as served:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await served.vessels.FindAvailable(REQUEST)
        reply = await served.vessels.FindAvailable(REQUEST, metadata=[("token", "t")])

    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "a token is required"
    assert reply.vessel.id == "v1"


async def test_a_wrapper_added_before_start_runs_and_one_added_after_is_refused() -> None:
    server = Server("127.0.0.1:0")
    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels(boaty))
    server.wrap(RequireToken())
    address = await server.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await vessel_pb2_grpc.VesselServiceStub(channel).FindAvailable(REQUEST)
        with pytest.raises(RuntimeError, match="before the server starts"):
            server.wrap(RequireToken())
    finally:
        await server.stop(grace=1)

    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_health_follows_the_lifecycle() -> None:
    server = Server()
    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    address = await server.start()
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def status(service: str) -> int:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            return reply.status

        assert await status("") == health_pb2.HealthCheckResponse.NOT_SERVING
        await server.set_serving(True)
        assert await status("") == health_pb2.HealthCheckResponse.SERVING
        assert await status(SERVICE) == health_pb2.HealthCheckResponse.SERVING

        await server.stop(grace=1)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await status("")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def reflect(
    channel: grpc.aio.Channel, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    """The one reply of a reflection call asking `request`."""
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]))
    [reply] = [reply async for reply in call]
    return reply


def listed(reply: reflection_pb2.ServerReflectionResponse) -> list[str]:
    return [service.name for service in reply.list_services_response.service]


def described(reply: reflection_pb2.ServerReflectionResponse) -> dict[str, list[str]]:
    """Each service of the files a reflection reply carries → its methods."""
    files = map(
        descriptor_pb2.FileDescriptorProto.FromString,
        reply.file_descriptor_response.file_descriptor_proto,
    )
    return {
        f"{file.package}.{service.name}": [method.name for method in service.method]
        for file in files
        for service in file.service
    }


LIST_SERVICES = reflection_pb2.ServerReflectionRequest(list_services="")
DESCRIBE_VESSELS = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)


async def test_reflection_lists_the_services(served: Connection) -> None:
    reply = await reflect(served.channel, LIST_SERVICES)

    assert sorted(listed(reply)) == sorted(
        [SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]
    )


async def test_reflection_describes_a_service_and_knows_no_other(served: Connection) -> None:
    reply = await reflect(served.channel, DESCRIBE_VESSELS)
    unknown = await reflect(
        served.channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such")
    )

    assert described(reply)[SERVICE] == ["FindAvailable", "Release", "Create"]
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_reflection_answers_the_one_method_of_grpc_reflections_service() -> None:
    service = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]

    assert SERVICE_NAME == service.full_name == reflection.SERVICE_NAME
    assert [f"/{service.full_name}/{method.name}" for method in service.methods] == [METHOD]


async def test_a_service_loads_reflection_on_the_first_reflection_call() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REFLECTED_SERVICE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def loaded() -> list[str]:
        """The reflection modules the service has imported so far."""
        stdin.write(b"?\n")
        await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), 10)
        return line.decode().split()[1:]

    try:
        ready = await asyncio.wait_for(stdout.readline(), 30)
        address = ready.decode().removeprefix("ready ").strip()
        async with grpc.aio.insecure_channel(address) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
            before = await loaded()
            services = await reflect(channel, LIST_SERVICES)
            after = await loaded()
            vessels = await reflect(channel, DESCRIBE_VESSELS)
        stdin.close()
        exit_code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert before == []
    assert SERVICE in listed(services)
    assert after == ["grpc_reflection.v1alpha.reflection", "google.protobuf.descriptor_pb2"]
    assert SERVICE in described(vessels)
    assert exit_code == 0


async def test_stop_lets_an_in_flight_call_finish() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(
        request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        entered.set()
        await release.wait()
        return await boaty(request, context)

    async with connect(slow) as served:
        call = asyncio.ensure_future(served.vessels.FindAvailable(REQUEST))
        await asyncio.wait_for(entered.wait(), 5)
        stopping = asyncio.create_task(served.server.stop(grace=5))
        await refused(served.server.address)
        release.set()

        reply = await call
        await stopping

    assert reply.vessel.id == "v1"


async def refused(address: str, within: float = 5.0) -> None:
    """Wait until a new connection to `address` is refused."""

    async def is_refused() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=0.5
                )
            except grpc.aio.AioRpcError as e:
                return e.code() is grpc.StatusCode.UNAVAILABLE
        return False

    await eventually(is_refused, within, waiting_for=f"{address} to refuse connections")


async def test_handle_refuses_a_function_that_registers_nothing() -> None:
    def add_nothing(servicer: object, server: object) -> None:
        pass

    with pytest.raises(TypeError, match="add_nothing registered no methods"):
        Server().handle(add_nothing, object())
