"""Call a service by name: pick a node, reuse its channel, set a deadline.

    async with Client.connect(Options.from_env()) as client:
        users = client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")
        reply = await users.Get(user_pb2.GetRequest(id=user_id), timeout=2.0)

`stub()` returns an object typed as the generated stub. Each call selects a
node of the service through the selector, reuses one channel per node
address, and has a deadline (the client's `timeout`, or `timeout=`). A
failed call raises the `micro.errors` class of its status code.

A call moves to another node only when the request cannot have reached the
first one: its channel does not become ready (connection refused, say).
Once a request is sent it is never sent again, whatever the status, as the
handler may have run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

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
from micro.selector import Selector, Strategy
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
        self._interceptors = tuple(interceptors)
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
        )
        try:
            yield client
        finally:
            await client.close()
            await selector.close()
            if registry is None:
                await own_registry.close()

    def stub(self, stub_class: Callable[[grpc.aio.Channel], S], service: str) -> S:
        """A stub of `service` whose calls go to its nodes, found by name."""
        return cast(S, _Stub(self, stub_class, service))

    async def close(self) -> None:
        """Close every channel; calls still running are cancelled."""
        self._closed = True
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    def _channel(self, address: str) -> grpc.aio.Channel:
        if self._closed:
            raise RuntimeError("the client is closed")
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self.transport.channel(address, self._interceptors)
        return channel

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
    """Stands in for a generated stub: each attribute is a `_Method`."""

    def __init__(self, client: Client, stub_class: Callable[..., Any], service: str) -> None:
        self._client = client
        self._stub_class = stub_class
        self._service = service

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        method = _Method(self._client, self._stub_class, self._service, name)
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"<{getattr(self._stub_class, '__name__', 'stub')} of {self._service!r}>"


class _Method:
    """One method of a service; calls it on a node the selector picks.

    The common case, a node whose channel is ready, takes one selector
    lookup and one cached-dict lookup; everything else is in `_connect`."""

    __slots__ = ("_calls", "_client", "_name", "_service", "_stub_class")

    def __init__(
        self, client: Client, stub_class: Callable[..., Any], service: str, name: str
    ) -> None:
        self._client = client
        self._stub_class = stub_class
        self._service = service
        self._name = name
        self._calls: dict[str, tuple[grpc.aio.Channel, Callable[..., Any]]] = {}
        """The channel to each node address, and the generated method on it."""

    async def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the generated stubs' signature)
        metadata: Metadata | None = None,
    ) -> Any:
        client = self._client
        if timeout is None:
            timeout = client.timeout
        deadline = time.monotonic() + timeout
        node = await client.selector.select(self._service)
        cached = self._calls.get(node.address)
        if cached is None or cached[0].get_state(try_to_connect=True) is not READY:
            cached = await self._connect(node, deadline)
            if cached is None:
                raise self._deadline_exceeded(timeout)
        try:
            return await cached[1](request, timeout=deadline - time.monotonic(), metadata=metadata)
        except grpc.aio.AioRpcError as e:
            raise self._error(e, timeout) from None

    async def _connect(
        self, node: Node, deadline: float
    ) -> tuple[grpc.aio.Channel, Callable[..., Any]] | None:
        """A ready channel to `node`, or else to another node (a request
        that cannot have been sent may go elsewhere); None when the
        deadline passes first."""
        client = self._client
        unreachable: dict[str, str] = {}
        for _ in range(client.attempts):
            channel = client._channel(node.address)
            if await client._reachable(channel, deadline):
                cached = self._calls[node.address] = (
                    channel,
                    getattr(self._stub_class(channel), self._name),
                )
                return cached
            if time.monotonic() >= deadline:
                return None
            unreachable[node.id] = node.address
            try:
                node = await client.selector.select(self._service, exclude=unreachable)
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
