"""Streaming calls by name over gRPC: unary-stream, stream-unary and stream-stream.

Each test runs real gRPC servers in this process (micro.Server) found through
a memory registry, as the client tests do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import grpc
import grpc.aio
import pytest
from devstack.ports import free_port
from micro.client import Client
from micro.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from micro.registry import Node, ServiceRecord
from micro.registry.memory import MemoryRegistry
from micro.selector import Selector
from micro.server import Server
from micro.testing import unique_name
from shippy.testing.v1 import streams_pb2_grpc
from shippy.testing.v1.streams_pb2 import Number

Context = grpc.aio.ServicerContext[Number, Number]


class Numbers(streams_pb2_grpc.NumbersServicer):
    """Counts, sums and doubles; a request's `note` asks for trouble:
    "fail" raises at that point, "hang" waits until the call is cancelled."""

    def __init__(self) -> None:
        self.calls = 0
        self.received: list[int] = []
        """Every number a stream of requests brought, in order."""
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def Next(self, request: Number, context: Context) -> Number:
        self.calls += 1
        return Number(value=request.value + 1)

    async def Count(self, request: Number, context: Context) -> AsyncIterator[Number]:
        self.calls += 1
        for value in range(1, request.value + 1):
            if request.note == "fail" and value == 3:
                raise NotFound("number 3 is missing")
            yield Number(value=value)
            if request.note == "hang":
                await self._hang()

    async def Sum(self, requests: AsyncIterator[Number], context: Context) -> Number:
        self.calls += 1
        total = 0
        async for request in requests:
            self.received.append(request.value)
            if request.note == "fail":
                raise InvalidArgument("note", "asks to fail")
            if request.note == "unavailable":
                raise Unavailable("the abacus is down")
            total += request.value
        return Number(value=total)

    async def Double(
        self, requests: AsyncIterator[Number], context: Context
    ) -> AsyncIterator[Number]:
        self.calls += 1
        async for request in requests:
            self.received.append(request.value)
            if request.note == "fail":
                raise InvalidArgument("note", "asks to fail")
            yield Number(value=request.value * 2)
            if request.note == "hang":
                await self._hang()

    async def _hang(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
async def selector(registry: MemoryRegistry) -> AsyncIterator[Selector]:
    selector = Selector(registry)
    yield selector
    await selector.close()


@pytest.fixture
async def client(registry: MemoryRegistry, selector: Selector) -> AsyncIterator[Client]:
    client = Client(registry, selector, timeout=5.0)
    yield client
    await client.close()


@asynccontextmanager
async def serving(
    servicer: Numbers, interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()
) -> AsyncIterator[Server]:
    server = Server("127.0.0.1:0", interceptors)
    server.handle(streams_pb2_grpc.add_NumbersServicer_to_server, servicer)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


async def register(registry: MemoryRegistry, name: str, *addresses: str) -> None:
    nodes = tuple(Node(f"{name}-{i}", address) for i, address in enumerate(addresses))
    await registry.register(ServiceRecord(name, "1.0.0", nodes), ttl=60)


class Served(NamedTuple):
    stub: Any
    """Typed as the generated stub, whose methods are attributes."""
    servicer: Numbers
    node: Node


@asynccontextmanager
async def numbers_service(client: Client, registry: MemoryRegistry) -> AsyncIterator[Served]:
    """One node serving a `Numbers`, and a stub that calls it by name."""
    servicer = Numbers()
    name = unique_name()
    async with serving(servicer) as server:
        await register(registry, name, server.address)
        stub = client.stub(streams_pb2_grpc.NumbersStub, name)
        yield Served(stub, servicer, Node(f"{name}-0", server.address))


def numbers(*values: int, note_at: int | None = None, note: str = "") -> Iterator[Number]:
    for value in values:
        yield Number(value=value, note=note if value == note_at else "")


async def values_of(replies: AsyncIterable[Number]) -> list[int]:
    return [reply.value async for reply in replies]


async def collect(replies: AsyncIterable[Number], into: list[int]) -> None:
    """Append each reply's value to `into` as it comes, until the stream ends or fails."""
    async for reply in replies:
        into.append(reply.value)


async def test_every_shape_works_through_the_client_by_name(
    client: Client, registry: MemoryRegistry
) -> None:
    async def async_numbers() -> AsyncIterator[Number]:
        for value in (4, 5):
            yield Number(value=value)

    async with numbers_service(client, registry) as (stub, _, _):
        assert (await stub.Next(Number(value=1))).value == 2
        assert await values_of(stub.Count(Number(value=3))) == [1, 2, 3]
        assert (await stub.Sum(numbers(1, 2, 3))).value == 6
        assert (await stub.Sum(async_numbers())).value == 9
        assert await values_of(stub.Double(numbers(1, 2, 3))) == [2, 4, 6]
        assert await values_of(stub.Double(async_numbers())) == [8, 10]


async def test_a_bidirectional_stream_answers_each_request_as_it_arrives(
    client: Client, registry: MemoryRegistry
) -> None:
    """The next request is sent only after the reply to the last one came back."""
    replies: asyncio.Queue[int] = asyncio.Queue()

    async def requests() -> AsyncIterator[Number]:
        value = 1
        for _ in range(3):
            yield Number(value=value)
            value = await replies.get()

    async with numbers_service(client, registry) as (stub, _, _):
        seen = []
        async for reply in stub.Double(requests()):
            seen.append(reply.value)
            replies.put_nowait(reply.value)

    assert seen == [2, 4, 8]


async def test_an_error_in_the_middle_of_a_stream_raises_its_class_after_the_replies_before_it(
    client: Client, registry: MemoryRegistry
) -> None:
    async with numbers_service(client, registry) as (stub, _, _):
        seen: list[int] = []
        with pytest.raises(NotFound, match=r"^number 3 is missing$"):
            await collect(stub.Count(Number(value=5, note="fail")), seen)
        assert seen == [1, 2]

        doubled: list[int] = []
        with pytest.raises(InvalidArgument) as caught:
            await collect(stub.Double(numbers(1, 2, 3, note_at=2, note="fail")), doubled)
        assert doubled == [2]
        assert (caught.value.field, caught.value.reason) == ("note", "asks to fail")

        with pytest.raises(InvalidArgument, match=r"^note: asks to fail$"):
            await stub.Sum(numbers(1, 2, note_at=2, note="fail"))


async def test_the_deadline_covers_the_whole_stream(
    client: Client, registry: MemoryRegistry
) -> None:
    async with numbers_service(client, registry) as (stub, _, _):
        started = time.monotonic()
        seen: list[int] = []
        with pytest.raises(DeadlineExceeded) as caught:
            await collect(stub.Count(Number(value=5, note="hang"), timeout=0.3), seen)
        assert 0.3 <= time.monotonic() - started < 3.0
        assert seen == [1]
        assert "Count" in str(caught.value)

        never = asyncio.Event()

        async def endless() -> AsyncIterator[Number]:
            yield Number(value=1)
            await never.wait()
            yield Number(value=2)

        with pytest.raises(DeadlineExceeded, match=r"no answer within 0\.3s"):
            await stub.Sum(endless(), timeout=0.3)
        with pytest.raises(DeadlineExceeded, match="Double"):
            await values_of(stub.Double(endless(), timeout=0.3))


async def test_a_stream_moves_to_another_node_when_the_first_is_down_before_anything_is_sent(
    client: Client, registry: MemoryRegistry
) -> None:
    taken: list[int] = []

    def counted(*values: int) -> Iterator[Number]:
        for value in values:
            taken.append(value)
            yield Number(value=value)

    servicer = Numbers()
    name = unique_name()
    async with serving(servicer) as live:
        # Round robin from the dead node: every other call picks it first.
        await register(registry, name, f"127.0.0.1:{free_port()}", live.address)
        stub = client.stub(streams_pb2_grpc.NumbersStub, name)

        counts = [await values_of(stub.Count(Number(value=2))) for _ in range(2)]
        sums = [(await stub.Sum(counted(1, 2))).value for _ in range(2)]
        doubles = [await values_of(stub.Double(counted(3))) for _ in range(2)]

    assert counts == [[1, 2], [1, 2]]
    assert sums == [3, 3]
    assert doubles == [[6], [6]]
    assert servicer.calls == 6
    assert taken == [1, 2, 1, 2, 3, 3], "each request is taken from the caller once"
    assert servicer.received == [1, 2, 1, 2, 3, 3]


async def test_a_stream_the_server_failed_after_it_was_sent_is_not_sent_again(
    client: Client, registry: MemoryRegistry
) -> None:
    servicer = Numbers()
    name = unique_name()
    async with serving(servicer) as first, serving(servicer) as second:
        await register(registry, name, first.address, second.address)
        stub = client.stub(streams_pb2_grpc.NumbersStub, name)

        with pytest.raises(Unavailable, match="the abacus is down"):
            await stub.Sum(numbers(1, 2, note_at=1, note="unavailable"))

    assert servicer.calls == 1
    assert servicer.received == [1]


async def test_a_node_that_dies_during_a_stream_is_not_sent_it_again(
    client: Client, registry: MemoryRegistry
) -> None:
    one, other = Numbers(), Numbers()
    name = unique_name()
    async with serving(one) as first, serving(other) as second:
        await register(registry, name, first.address, second.address)
        stub = client.stub(streams_pb2_grpc.NumbersStub, name)
        replies = stub.Double(numbers(1, 2, note_at=1, note="hang"))

        assert (await replies.read()).value == 2
        serving_it = first if one.started.is_set() else second
        await serving_it.stop(grace=0)

        with pytest.raises(Unavailable):
            await replies.read()

    assert one.calls + other.calls == 1


async def test_leaving_the_loop_early_cancels_the_call_on_the_server(
    client: Client, registry: MemoryRegistry, selector: Selector
) -> None:
    async with numbers_service(client, registry) as (stub, servicer, node):
        async for reply in stub.Count(Number(value=5, note="hang")):
            assert reply.value == 1
            assert selector.outstanding(node) == 1
            break

        await asyncio.wait_for(servicer.cancelled.wait(), timeout=5)
    assert selector.outstanding(node) == 0


async def test_cancel_ends_a_bidirectional_stream(
    client: Client, registry: MemoryRegistry, selector: Selector
) -> None:
    async with numbers_service(client, registry) as (stub, servicer, node):
        replies = stub.Double(numbers(1, 2, note_at=1, note="hang"))
        assert (await replies.read()).value == 2

        replies.cancel()

        await asyncio.wait_for(servicer.cancelled.wait(), timeout=5)
        assert await replies.read() is grpc.aio.EOF
    assert selector.outstanding(node) == 0


async def test_a_nul_character_in_a_streamed_request_names_its_field(
    client: Client, registry: MemoryRegistry
) -> None:
    async with numbers_service(client, registry) as (stub, servicer, _):
        with pytest.raises(InvalidArgument) as caught:
            await stub.Sum(iter([Number(value=1), Number(value=2, note="tea\x00")]))
        with pytest.raises(InvalidArgument, match=r"^note: must not contain a NUL character$"):
            await values_of(stub.Count(Number(value=2, note="tea\x00")))

    assert (caught.value.field, caught.value.reason) == ("note", "must not contain a NUL character")
    assert servicer.received == [1], "the handler never sees the bad message"
    assert servicer.calls == 1, "nor a bad request that opens a stream of replies"


async def test_unreadable_bytes_in_a_request_stream_are_invalid_argument() -> None:
    servicer = Numbers()
    async with (
        serving(servicer) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        raw: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
            "/shippy.testing.v1.Numbers/Double"
        )
        call = raw(iter([Number(value=1).SerializeToString(), b"\x12\x02\xff\xfe"]))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "request: cannot be read" in (caught.value.details() or "")
    assert servicer.received == [1]


class RefuseStreams(grpc.aio.ServerInterceptor):
    """An auth check that refuses every call."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        raise Unauthenticated("no token")


STREAMING_CALLS: dict[str, Callable[[Any], Awaitable[object]]] = {
    "Count": lambda stub: values_of(stub.Count(Number(value=2))),
    "Sum": lambda stub: stub.Sum(numbers(1)),
    "Double": lambda stub: values_of(stub.Double(numbers(1))),
}


@pytest.mark.parametrize("method", list(STREAMING_CALLS))
async def test_an_interceptors_error_on_a_streaming_method_reaches_the_caller_as_its_class(
    client: Client, registry: MemoryRegistry, method: str
) -> None:
    servicer = Numbers()
    name = unique_name()
    async with serving(servicer, (RefuseStreams(),)) as server:
        await register(registry, name, server.address)
        stub = client.stub(streams_pb2_grpc.NumbersStub, name)

        with pytest.raises(Unauthenticated, match=r"^no token$"):
            await STREAMING_CALLS[method](stub)

    assert servicer.calls == 0


async def test_a_stream_in_flight_counts_for_least_outstanding_until_it_ends(
    registry: MemoryRegistry,
) -> None:
    held, idle = Numbers(), Numbers()
    name = unique_name()
    selector = Selector(registry, "least_outstanding")
    client = Client(registry, selector, timeout=5.0)
    try:
        async with serving(held) as first, serving(idle) as second:
            await registry.register(
                ServiceRecord(name, "1.0.0", (Node("held", first.address),)), 60
            )
            stub = client.stub(streams_pb2_grpc.NumbersStub, name)
            stream = stub.Count(Number(value=3, note="hang"))
            assert (await stream.read()).value == 1
            await registry.register(
                ServiceRecord(name, "1.0.0", (Node("idle", second.address),)), 60
            )
            selector.invalidate(name)

            replies = [(await stub.Next(Number(value=n))).value for n in range(3)]

            stream.cancel()
            await asyncio.wait_for(held.cancelled.wait(), timeout=5)
        assert replies == [1, 2, 3]
        assert (held.calls, idle.calls) == (1, 3)
    finally:
        await client.close()
        await selector.close()
