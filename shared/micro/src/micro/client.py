"""Call a service by name: pick a node, reuse its channel, set a deadline.

    async with Client.connect(Options.from_env()) as client:
        users = client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")
        reply = await users.Get(user_pb2.GetRequest(id=user_id), timeout=2.0)

`stub()` returns an object typed as the generated stub. Each call selects a
node of the service through the selector, reuses one channel per node
address, and has a deadline (the client's `timeout`, or `timeout=`). A
failed call raises the `micro.errors` class of its status code.

Each node's `protocol` metadata names the transport its address is for: a
service on the NATS transport is called over NATS whatever the client's own
transport (`options` says where NATS is).

A call moves to another node only when the request cannot have reached the
first one: its channel does not become ready (connection refused, say).
Once a request is sent it is never sent again, whatever the status, as the
handler may have run.

A stub may call only some of the nodes: `client.stub(UserServiceStub,
"shippy.user", filter=Version("2.0"))`, or `NodeMetadata(track="canary")`
(`micro.selector`). The selector is told when each call starts and ends (a
streamed one ends with its stream), which its `least_outstanding` strategy
counts.

Streaming methods work as the generated stubs' do. A method that streams
its replies returns them for `async for`; a method that takes a stream of
requests takes them as an iterable or an async iterable:

    async for number in numbers.Count(Number(value=3), timeout=10): ...
    total = await numbers.Sum(Number(value=v) for v in (1, 2, 3))
    async for doubled in numbers.Double(requests()): ...

A streamed call starts with the first `async for` step, and its deadline
covers the whole stream from the moment the method was called. An error in
the middle of a stream raises the `micro.errors` class of its status from
the loop. Leaving the loop early (break, an exception) cancels the call, and
so does `cancel()` on the replies. A stream of requests moves to another
node by the same rule as a single request: nothing of it is taken from the
caller's iterator before a node's channel is ready, and once it has been,
the call is never made again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import cache
from typing import Any, Literal, TypeVar, cast, get_args

import grpc
import grpc.aio

from micro import plugins
from micro.config import Options
from micro.errors import (
    DeadlineExceeded,
    MicroError,
    ServiceNotFound,
    Unavailable,
    details_from_metadata,
    from_status,
)
from micro.registry import Node, Registry
from micro.selector import Filter, Selector, Strategy
from micro.transport import GrpcTransport, Transport

S = TypeVar("S")

Metadata = Sequence[tuple[str, str | bytes]]

READY = grpc.ChannelConnectivity.READY
FAILED = (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)


class Client:
    def __init__(
        self,
        registry: Registry,
        selector: Selector,
        timeout: float = 5.0,
        *,
        transport: Transport | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        connect_timeout: float = 1.0,
        attempts: int = 3,
        options: Options | None = None,
    ) -> None:
        self.registry = registry
        self.selector = selector
        self.transport = transport or GrpcTransport()
        """Makes the channel to each node: in the clear, or with TLS."""
        self.timeout = timeout
        """Deadline of every call, in seconds, unless the call gives its own."""
        self.connect_timeout = connect_timeout
        """How long a node's channel may take to become ready before the
        call moves to another node."""
        self.attempts = attempts
        """How many nodes a call tries before it gives up."""
        self.options = options or Options()
        """Where the other transports a node may name are (NATS's URL)."""
        self._interceptors = tuple(interceptors)
        self._transports: dict[str, Transport] = {}
        """Transports other than `transport` that nodes named, made on first use."""
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        options: Options,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        *,
        registry: Registry | None = None,
    ) -> AsyncIterator[Client]:
        """A client with its own selector (and registry, unless given one), for
        a CLI; the registry and transport `options` name. Everything it opened
        is closed on exit; a registry passed in stays open."""
        own_registry = registry or plugins.registry(options)
        selector = Selector(own_registry, cast(Strategy, options.selector))
        client = cls(
            own_registry,
            selector,
            options.client_timeout,
            transport=plugins.transport(options),
            interceptors=interceptors,
            options=options,
        )
        try:
            yield client
        finally:
            await client.close()
            await client.transport.close()
            await selector.close()
            if registry is None:
                await own_registry.close()

    def stub(
        self,
        stub_class: Callable[[grpc.aio.Channel], S],
        service: str,
        *,
        filter: Filter | None = None,
    ) -> S:
        """A stub of `service` whose calls go to its nodes, found by name;
        only to those `filter` accepts, when given (a version, a canary)."""
        return cast(S, _Stub(self, stub_class, service, filter))

    async def close(self) -> None:
        """Close every channel, and the transports nodes named; calls still
        running are cancelled. The client's own `transport` stays open."""
        self._closed = True
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            await transport.close()

    def _channel(self, node: Node) -> grpc.aio.Channel:
        if self._closed:
            raise RuntimeError("the client is closed")
        channel = self._channels.get(node.address)
        if channel is None:
            transport = self._transport_of(node)
            channel = transport.channel(node.address, self._interceptors)
            self._channels[node.address] = channel
        return channel

    def _transport_of(self, node: Node) -> Transport:
        protocol = node.metadata.get("protocol", self.transport.name)
        if protocol == self.transport.name:
            return self.transport
        transport = self._transports.get(protocol)
        if transport is None:
            transport = plugins.transport(replace(self.options, transport=protocol))
            self._transports[protocol] = transport
        return transport

    async def _reachable(self, channel: grpc.aio.Channel, deadline: float) -> bool:
        """Whether `channel` is ready, or becomes ready in time."""
        state = channel.get_state(try_to_connect=True)
        bound = min(deadline - time.monotonic(), self.connect_timeout)
        try:
            async with asyncio.timeout(bound):
                while state is not READY:
                    if state in FAILED:
                        return False
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            return False
        return True


class _Stub:
    """Stands in for a generated stub: each attribute is a method of the shape
    the generated stub gives it."""

    def __init__(
        self, client: Client, stub_class: Callable[..., Any], service: str, filter: Filter | None
    ) -> None:
        self._client = client
        self._stub_class = stub_class
        self._service = service
        self._filter = filter

    def __getattr__(self, name: str) -> _Method:
        shape = _shapes(self._stub_class).get(name)
        if shape is None:
            raise AttributeError(f"{self!r} has no method {name!r}")
        kind = _Streaming if shape in STREAMED_REPLIES else _Method
        method = kind(self._client, self._stub_class, self._service, name, self._filter)
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"<{getattr(self._stub_class, '__name__', 'stub')} of {self._service!r}>"


Shape = Literal["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
STREAMED_REPLIES: tuple[Shape, ...] = ("unary_stream", "stream_stream")


@cache
def _shapes(stub_class: Callable[..., Any]) -> dict[str, Shape]:
    """The shape of each method of a generated stub class, by name."""
    return {
        name: shape
        for name, shape in vars(stub_class(_ShapeRecorder())).items()
        if shape in get_args(Shape)
    }


class _ShapeRecorder:
    """Stands in for a channel while a generated stub's `__init__` runs: each
    method it asks for is the name of its shape."""

    def unary_unary(self, *args: Any, **kwargs: Any) -> Shape:
        return "unary_unary"

    def unary_stream(self, *args: Any, **kwargs: Any) -> Shape:
        return "unary_stream"

    def stream_unary(self, *args: Any, **kwargs: Any) -> Shape:
        return "stream_unary"

    def stream_stream(self, *args: Any, **kwargs: Any) -> Shape:
        return "stream_stream"


class _Method:
    """One method of a service that answers with one reply (unary-unary and
    stream-unary); calls it on a node the selector picks.

    The common case, a node whose channel is ready, takes one selector
    lookup and one cached-dict lookup; everything else is in `_connect`."""

    __slots__ = ("_calls", "_client", "_filter", "_name", "_service", "_stub_class")

    def __init__(
        self,
        client: Client,
        stub_class: Callable[..., Any],
        service: str,
        name: str,
        filter: Filter | None,
    ) -> None:
        self._client = client
        self._stub_class = stub_class
        self._service = service
        self._name = name
        self._filter = filter
        self._calls: dict[str, tuple[grpc.aio.Channel, Callable[..., Any]]] = {}
        """The channel to each node address, and the generated method on it."""

    async def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the generated stubs' signature)
        metadata: Metadata | None = None,
    ) -> Any:
        """`request` is a message, or for a stream of requests an iterable
        or async iterable of them."""
        client = self._client
        if timeout is None:
            timeout = client.timeout
        deadline = time.monotonic() + timeout
        node, call = await self._open(deadline, timeout)
        try:
            return await call(request, timeout=deadline - time.monotonic(), metadata=metadata)
        except grpc.aio.AioRpcError as e:
            raise self._error(e, timeout) from None
        finally:
            client.selector.call_ended(node)

    async def _open(self, deadline: float, within: float) -> tuple[Node, Callable[..., Any]]:
        """A node whose channel is ready, and the generated method on it. The
        selector counts a call to that node from here on: the caller tells
        it when the call ends."""
        selector = self._client.selector
        node = await selector.select(self._service, filter=self._filter)
        cached = self._calls.get(node.address)
        if cached is None or cached[0].get_state(try_to_connect=True) is not READY:
            return await self._connect(node, deadline, within)
        selector.call_started(node)
        return node, cached[1]

    async def _connect(
        self, node: Node, deadline: float, within: float
    ) -> tuple[Node, Callable[..., Any]]:
        """A ready channel to `node`, or else to another node (a request
        that cannot have been sent may go elsewhere); DeadlineExceeded when
        the deadline passes first. A node counts as called while its
        channel gets ready, so that concurrent calls spread."""
        client = self._client
        selector = client.selector
        unreachable: dict[str, str] = {}
        for _ in range(client.attempts):
            channel = client._channel(node)
            selector.call_started(node)
            try:
                reachable = await client._reachable(channel, deadline)
            except BaseException:
                selector.call_ended(node)
                raise
            if reachable:
                method = getattr(self._stub_class(channel), self._name)
                self._calls[node.address] = (channel, method)
                return node, method
            selector.call_ended(node)
            if time.monotonic() >= deadline:
                raise self._deadline_exceeded(within)
            unreachable[node.id] = node.address
            try:
                node = await selector.select(
                    self._service, exclude=unreachable, filter=self._filter
                )
            except ServiceNotFound:
                raise
            except Unavailable:  # every node is excluded
                break
        addresses = ", ".join(unreachable.values())
        raise Unavailable(f'service "{self._service}": no node reachable (tried {addresses})')

    def _error(self, error: grpc.aio.AioRpcError, timeout: float) -> MicroError:
        if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._deadline_exceeded(timeout)
        details = details_from_metadata(error.trailing_metadata())  # type: ignore[arg-type]
        return from_status(error.code(), error.details() or "", details)

    def _deadline_exceeded(self, timeout: float) -> DeadlineExceeded:
        return DeadlineExceeded(
            f'calling "{self._service}" {self._name}: no answer within {timeout:g}s'
        )


class _Streaming(_Method):
    """A method that streams its replies (unary-stream and stream-stream)."""

    __slots__ = ()

    def __call__(  # type: ignore[override]
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Replies:
        if timeout is None:
            timeout = self._client.timeout
        return Replies(self, request, timeout, metadata)


class Replies:
    """The replies of a streamed call: `async for` them, or `await read()`
    each (`grpc.aio.EOF` after the last), as with a generated stub's call.

    The call starts with the first read. It is cancelled when the loop is
    left early (these replies are dropped) or on `cancel()`."""

    def __init__(
        self, method: _Streaming, request: Any, timeout: float, metadata: Metadata | None
    ) -> None:
        self._method = method
        self._request = request
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._metadata = metadata
        self._call: Any = None
        """The running grpc.aio call, once started."""
        self._replies: AsyncIterator[Any] | None = None
        """The call's own iterator: as fast as the raw call's `async for`,
        where its `read()` costs half as much again per message (bench)."""
        self._node: Node | None = None
        """The node called, until the call ends and the selector is told."""
        self._over = False

    def __aiter__(self) -> Replies:
        return self

    async def __anext__(self) -> Any:
        if self._over:
            raise StopAsyncIteration
        if self._replies is None:
            self._replies = await self._start()
        try:
            return await self._replies.__anext__()
        except StopAsyncIteration:
            self._end()
            raise
        except grpc.aio.AioRpcError as e:
            self._end()
            raise self._method._error(e, self._timeout) from None
        except BaseException:  # cancelled, say: the call goes with it
            self.cancel()
            raise

    async def read(self) -> Any:
        """The next reply, or `grpc.aio.EOF` once the stream has ended; a
        failed call raises the `micro.errors` class of its status."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return grpc.aio.EOF

    def cancel(self) -> None:
        """End the call now, if it is running; the server sees it cancelled."""
        if self._call is not None and not self._call.done():
            self._call.cancel()
        self._end()

    def __del__(self) -> None:
        if not self._over:
            self.cancel()

    async def _start(self) -> AsyncIterator[Any]:
        try:
            self._node, call = await self._method._open(self._deadline, self._timeout)
        except BaseException:
            self._over = True
            raise
        self._call = call(
            self._request, timeout=self._deadline - time.monotonic(), metadata=self._metadata
        )
        return cast(AsyncIterator[Any], self._call.__aiter__())

    def _end(self) -> None:
        self._over = True
        node, self._node = self._node, None
        if node is not None:
            self._method._client.selector.call_ended(node)
