"""The gRPC server as any gRPC client sees it: errors, health, reflection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from micro.errors import InvalidArgument, Unauthenticated
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


async def test_reflection_lists_the_services(served: Connection) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(served.channel)

    call = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name async for reply in call for s in reply.list_services_response.service]

    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


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
