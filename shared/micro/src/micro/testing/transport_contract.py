"""The transport contract: the tests every `Transport` passes, end to end.

The core's gRPC and NATS transports run them (shared/micro/tests); another
transport proves itself by subclassing `TransportContract` with a `transports`
`new_transport` fixture: a function that makes an unconnected transport (one
for the server, one for the client). Each test serves
`Probe`, a servicer of raw bytes, in a `Service` of its own and calls it by
name through a `Client`, as a service's code does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

from micro import errors
from micro.client import Client
from micro.registry.memory import MemoryRegistry
from micro.selector import Selector
from micro.service import Service
from micro.testing.memory import MEMORY
from micro.transport import Transport

__all__ = ["ERRORS", "Probe", "ProbeStub", "TransportContract"]

SERVICE = "test.Probe"
CALL = f"/{SERVICE}/Call"

ERRORS: tuple[type[errors.MicroError], ...] = (
    errors.NotFound,
    errors.AlreadyExists,
    errors.Unauthenticated,
    errors.PermissionDenied,
    errors.ResourceExhausted,
    errors.FailedPrecondition,
    errors.Unimplemented,
    errors.Unavailable,
    errors.Internal,
)
"""Every error class a handler raises with a message of its own."""

Behaviour = Callable[[bytes, Any], Awaitable[bytes]]


@dataclass
class Probe:
    """Answers `Call` with what `behaviour` makes of the request bytes."""

    behaviour: Behaviour
    seen: list[Any] = field(default_factory=list)
    """Each call's context, as the handler got it."""

    async def Call(self, request: bytes, context: Any) -> bytes:
        self.seen.append(context)
        return await self.behaviour(request, context)


def add_probe_to_server(probe: Probe, server: Any) -> None:
    """What a generated `add_..._to_server` does, for `Probe` (raw bytes, no protobuf)."""
    handlers: dict[str, Any] = {"Call": grpc.unary_unary_rpc_method_handler(probe.Call)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


class ProbeStub:
    """What a generated stub does, for `Probe`."""

    def __init__(self, channel: Any) -> None:
        self.Call = channel.unary_unary(CALL)


async def echo(request: bytes, context: Any) -> bytes:
    return request


class TransportContract:
    @pytest.fixture
    async def transports(
        self, new_transport: Callable[[], Transport]
    ) -> AsyncIterator[tuple[Transport, Transport]]:
        """A transport for the server, and one for the client; closed after the test."""
        server, client = new_transport(), new_transport()
        yield server, client
        await client.close()
        await server.close()

    @asynccontextmanager
    async def serving(
        self,
        transports: tuple[Transport, Transport],
        behaviour: Behaviour = echo,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> AsyncIterator[tuple[Service, Probe, ProbeStub]]:
        """A started service serving `Probe(behaviour)`, and a stub of it by name."""
        server_transport, client_transport = transports
        registry = MemoryRegistry()
        name = f"test.probe.{uuid.uuid4().hex[:8]}"
        service = Service(
            name, options=MEMORY, registry=registry, transport=server_transport,
            interceptors=interceptors,
        )  # fmt: skip
        probe = Probe(behaviour)
        service.handle(add_probe_to_server, probe)
        selector = Selector(registry)
        client = Client(registry, selector, timeout=5.0, transport=client_transport)
        await service.start()
        try:
            yield service, probe, client.stub(ProbeStub, name)
        finally:
            await client.close()
            await selector.close()
            await service.stop()
            await registry.close()

    async def test_a_call_gets_its_answer(self, transports: tuple[Transport, Transport]) -> None:
        async with self.serving(transports) as (_, _, stub):
            assert await stub.Call(b"ahoy") == b"ahoy"

    @pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
    async def test_every_error_comes_back_as_its_class_with_its_message(
        self, transports: tuple[Transport, Transport], error: type[errors.MicroError]
    ) -> None:
        async def failing(request: bytes, context: Any) -> bytes:
            raise error(f"{error.__name__}: vessel v1 is in dry dock")

        async with self.serving(transports, failing) as (_, _, stub):
            with pytest.raises(error) as raised:
                await stub.Call(b"")
        assert type(raised.value) is error
        assert raised.value.code is error.code
        assert raised.value.message == f"{error.__name__}: vessel v1 is in dry dock"

    async def test_field_violations_come_back_field_by_field(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        async def invalid(request: bytes, context: Any) -> bytes:
            raise errors.InvalidArgument(
                "email", "is required", errors.FieldViolation("containers[1].weight", "must be > 0")
            )

        async with self.serving(transports, invalid) as (_, _, stub):
            with pytest.raises(errors.InvalidArgument) as raised:
                await stub.Call(b"")
        assert raised.value.violations == (
            ("email", "is required"),
            ("containers[1].weight", "must be > 0"),
        )

    async def test_an_unexpected_exception_is_internal_without_internals(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        async def broken(request: bytes, context: Any) -> bytes:
            raise KeyError("secret-table-name")

        async with self.serving(transports, broken) as (_, _, stub):
            with pytest.raises(errors.Internal) as raised:
                await stub.Call(b"")
        assert "secret" not in raised.value.message

    async def test_a_deadline_that_expires_on_the_server_is_deadline_exceeded(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        cancelled = asyncio.Event()
        remaining: list[float] = []

        async def slow(request: bytes, context: Any) -> bytes:
            remaining.append(context.time_remaining())
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            return b""  # pragma: no cover

        async with self.serving(transports, slow) as (_, _, stub):
            with pytest.raises(errors.DeadlineExceeded):
                await stub.Call(b"", timeout=0.3)
            async with asyncio.timeout(5):
                await cancelled.wait()  # the handler is stopped, not left running
        assert 0 < remaining[0] <= 0.31  # gRPC rounds the timeout it sends up

    async def test_metadata_reaches_the_handler(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        async def metadata(request: bytes, context: Any) -> bytes:
            pairs = dict(context.invocation_metadata())
            return f"{pairs['authorization']}|{pairs['trace-bin'].hex()}".encode()

        metadata_sent = [("authorization", "Bearer abc"), ("trace-bin", b"\x00\xff")]
        async with self.serving(transports, metadata) as (_, _, stub):
            assert await stub.Call(b"", metadata=metadata_sent) == b"Bearer abc|00ff"

    async def test_an_interceptor_error_reaches_the_caller_and_is_counted(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        class NeedsTicket(grpc.aio.ServerInterceptor):
            async def intercept_service(self, continuation: Any, details: Any) -> Any:
                if ("ticket", "yes") not in tuple(details.invocation_metadata):
                    raise errors.Unauthenticated("no ticket")
                return await continuation(details)

        async with self.serving(transports, interceptors=[NeedsTicket()]) as (service, _, stub):
            assert await stub.Call(b"in", metadata=[("ticket", "yes")]) == b"in"
            with pytest.raises(errors.Unauthenticated, match="no ticket"):
                await stub.Call(b"in")
            stats = service.server.stats[CALL]
        assert (stats.num_requests, stats.num_errors) == (2, 1)
        assert stats.last_error == "UNAUTHENTICATED: no ticket"

    async def test_calls_are_counted_for_the_services_api(
        self, transports: tuple[Transport, Transport]
    ) -> None:
        async def picky(request: bytes, context: Any) -> bytes:
            if request == b"bad":
                raise errors.NotFound("no vessel bad")
            return request

        async with self.serving(transports, picky) as (service, _, stub):
            await stub.Call(b"good")
            await stub.Call(b"good")
            with pytest.raises(errors.NotFound):
                await stub.Call(b"bad")
            stats = service.server.stats[CALL]
        assert (stats.num_requests, stats.num_errors) == (3, 1)
        assert stats.last_error == "NOT_FOUND: no vessel bad"
        assert stats.processing_time > 0
