"""RPC over NATS request/reply: go-micro's "Micro on NATS" transport.

    MICRO_TRANSPORT=nats        # the "nats" entry point of "micro.transports"

The same servicers, the same server interceptors and the same client API as
over gRPC; only the wire differs. A service needs no listening port: each
method of each servicer is a queue-group subscription on

    micro.rpc.<service name>.<gRPC service>.<method>
    micro.rpc.shippy.user.shippy.user.v1.UserService.Create     # for example

in the queue group `<service name>`, so its instances share the load, and an
instance that dies (even by SIGKILL) gets no more requests at once: the NATS
server drops its subscriptions with its connection, no registry TTL needed.
Its registry node's address is `micro.rpc.<service name>`, and its metadata
says `protocol: nats`, so a client picks this transport for it whatever its own.

On the wire (one request message, one reply):

- the request body is the serialized protobuf request; call metadata travels as
  headers of the same names (`-bin` values base64), one value per key, and the
  caller's remaining time in seconds in `Micro-Timeout`; the handler sees it as
  `context.time_remaining()` and is cancelled once it has run out (within 50 ms:
  DEADLINE_SWEEP), answering DEADLINE_EXCEEDED;
- a reply is the serialized response, or an error in ADR-32's headers:
  `Nats-Service-Error` (the message) and `Nats-Service-Error-Code` (the numeric
  gRPC status code, 3 for INVALID_ARGUMENT); when the error has details (the
  field violations of `InvalidArgument`), the body is the `google.rpc.Status`,
  as gRPC's `grpc-status-details-bin` carries it. The client raises the
  `micro.errors` class of the code, as over gRPC.

A request is published once: whatever happens to it (no reply in time, the
connection lost), it is not sent again, as the handler may have run. Only "no
responders" (no instance subscribed, so nothing received it) is UNAVAILABLE
without any doubt. Streaming methods answer UNIMPLEMENTED over NATS.

Replies come back on one wildcard subscription per connection, on an inbox
of the connection's own (`Replies`), as nats-py's `request()` does it, but
each request costs a counter's next value, a future and a timer: nats-py's
takes a NUID, random bytes from the OS, a future with a done callback and
`asyncio.wait_for`, which together cost more than the rest of a call's client
side (15 µs a call of 36 in one process; measured with bench/'s servicer).

Interceptors are `grpc.aio.ServerInterceptor`s, run unchanged: `NatsServer`
drives their chain with its own `HandlerCallDetails`, and calls the handler
they choose with `NatsContext`, a `grpc.aio.ServicerContext` (metadata in,
`abort()`, `set_code()`, `time_remaining()`, `peer()`).

Why not nats-py's `nats.micro` for the endpoints: it runs one subscription's
requests one after another (a slow call would hold up every other call of its
method), replies to an error it counts with no body (no place for the field
violations), allows service names of `[A-Za-z0-9_-]` only ("shippy.user" is
not one) and semantic versions only, and its statistics count its own
endpoints only, while every Shippy service, gRPC ones too, answers the
services API (`micro.services_api`, which uses `nats.micro`'s response types).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, NoReturn

import grpc
import grpc.aio
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import Header

from micro.config import NO_LOGIN, NatsLogin, Options
from micro.errors import DETAILS_KEY, Unavailable
from micro.nats_client import connect, redacted
from micro.services_api import token

log = logging.getLogger("micro.server")

RPC_PREFIX = "micro.rpc"
TIMEOUT_HEADER = "Micro-Timeout"
"""The caller's remaining time, in seconds (like gRPC's grpc-timeout)."""
ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
STATUS = Header.STATUS.value
"""Where nats-py puts the status of a NATS control message ("503")."""
NO_RESPONDERS = "503"
"""The status NATS answers a request with when nothing subscribes to its subject."""
RESERVED = ("Micro-", "Nats-")
"""Header names that are not call metadata."""

Metadata = tuple[tuple[str, str | bytes], ...]
MethodHandler = "grpc.RpcMethodHandler[Any, Any]"

_CODES = {code.value[0]: code for code in grpc.StatusCode}
_SUBJECT_PART = re.compile(r"^[^\s*>]+$")


def address_of(service: str) -> str:
    """The registry address of `service`'s nodes: the prefix of its subjects."""
    if not _SUBJECT_PART.match(service):
        raise ValueError(
            f"service name {service!r}: cannot be part of a NATS subject (no spaces, '*' or '>')"
        )
    return f"{RPC_PREFIX}.{service}"


def instance_address(service: str, instance: str) -> str:
    """Where one instance of `service` answers its health checks, alone."""
    return f"{address_of(service)}.{token(instance)}"


def method_subject(address: str, method: str) -> str:
    """The subject of full method name `method` ("/pkg.Service/Method") at `address`."""
    service, _, name = method.strip("/").partition("/")
    return f"{address}.{service}.{name}"


class NatsTransport:
    """RPC as NATS request/reply, on one connection for a process's client and server."""

    name = "nats"

    def __init__(
        self, nats_url: str, *, login: NatsLogin = NO_LOGIN, connect_timeout: float = 2.0
    ) -> None:
        self.nats_url = nats_url
        self.login = login
        self.connect_timeout = connect_timeout
        self._nc: NatsClient | None = None
        self._replies: Replies | None = None
        self._connecting = asyncio.Lock()
        self._failed = False

    async def connection(self) -> NatsClient:
        """The connection, made on first use; `Unavailable` when NATS does not answer."""
        if self._nc is not None:
            return self._nc
        async with self._connecting:
            if self._nc is None:
                try:
                    self._nc = await connect(
                        self.nats_url,
                        "transport nats",
                        login=self.login,
                        connect_timeout=self.connect_timeout,
                    )
                except Unavailable:
                    self._failed = True
                    raise
                self._failed = False
            return self._nc

    async def replies(self) -> Replies:
        """Where this process's requests get their replies, made on first use."""
        if self._replies is not None:
            return self._replies
        nc = await self.connection()
        async with self._connecting:
            if self._replies is None:
                self._replies = await Replies.open(nc)
            return self._replies

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def failed_since_asked(self) -> bool:
        """Whether the last attempt to connect failed; the next look tries again."""
        failed, self._failed = self._failed, False
        return failed

    def channel(
        self, address: str, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> NatsChannel:
        if interceptors:
            raise TypeError("client interceptors work over gRPC only, not over NATS")
        return NatsChannel(self, address)

    def server(
        self, interceptors: Sequence[grpc.aio.ServerInterceptor], service: str, instance: str
    ) -> NatsServer:
        return NatsServer(self, interceptors, service, instance)

    def listen(self, server: Any, address: str) -> str:
        """Nothing to bind: the address clients use is the subjects' prefix."""
        if not isinstance(server, NatsServer):
            raise TypeError("the NATS transport serves a NatsServer only")
        return server.address

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        self._replies = None  # its subscription ends with the connection
        if nc is not None:
            await nc.close()


class Replies:
    """The replies to one connection's requests: a subscription to
    `<inbox>.*` (the connection's inbox prefix, so a login that may only
    read its own inbox can call), each request waiting on one token of it."""

    def __init__(self, nc: NatsClient, prefix: str) -> None:
        self._nc = nc
        self._prefix = prefix
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}

    @classmethod
    async def open(cls, nc: NatsClient) -> Replies:
        replies = cls(nc, f"{nc.new_inbox()}.")
        await nc.subscribe(f"{replies._prefix}*", cb=replies._arrived)
        return replies

    async def request(
        self, subject: str, payload: bytes, headers: dict[str, str], within: float
    ) -> Msg:
        """The reply to `payload` sent once to `subject`; TimeoutError when
        none came `within` seconds (a timer: asyncio.timeout costs a task's
        cancellation machinery per call). nats-py's errors of publishing
        (the connection closed, say) come through as they are."""
        loop = asyncio.get_running_loop()
        reply = f"{self._prefix}{next(self._tokens)}"
        answer: asyncio.Future[Msg] = loop.create_future()
        self._waiting[reply] = answer
        timer = loop.call_later(within, _expire, answer)
        try:
            await self._nc.publish(subject, payload, reply=reply, headers=headers)
            return await answer
        finally:
            timer.cancel()
            del self._waiting[reply]

    async def _arrived(self, msg: Msg) -> None:
        answer = self._waiting.get(msg.subject)
        if answer is not None and not answer.done():
            answer.set_result(msg)  # a reply that came too late finds no one


def _expire(answer: asyncio.Future[Msg]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class NatsChannel:
    """What generated stubs call through (`stub_class(channel)`), over NATS.

    Its `get_state()` says READY while NATS is connected, so the client's rule
    holds: a call moves to another node only when nothing can have been sent."""

    def __init__(self, transport: NatsTransport, address: str) -> None:
        self.transport = transport
        self.address = address

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> Callable[..., Awaitable[Any]]:
        return functools.partial(
            self._call,
            method_subject(self.address, method),
            request_serializer or _identity,
            response_deserializer or _identity,
        )

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Callable[..., Refused]:
        return functools.partial(Refused, method)

    stream_unary = unary_stream
    stream_stream = unary_stream

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        if self.transport.connected:
            return grpc.ChannelConnectivity.READY
        if self.transport.failed_since_asked():
            return grpc.ChannelConnectivity.TRANSIENT_FAILURE
        return grpc.ChannelConnectivity.IDLE

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """Connects, when not connected: the state then changes one way or the other."""
        try:
            await self.transport.connection()
        except Unavailable as error:
            log.warning("%s", error)

    async def close(self) -> None:
        """Nothing of its own to close: the connection is the transport's."""

    async def _call(
        self,
        subject: str,
        serialize: Callable[[Any], bytes],
        deserialize: Callable[[bytes], Any],
        request: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the generated stubs' signature)
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        **_: Any,
    ) -> Any:
        replies = await self.transport.replies()
        headers = _headers(metadata)
        wait = 3600.0 if timeout is None else max(timeout, 0.0)
        headers[TIMEOUT_HEADER] = f"{wait:.6f}"
        try:
            reply = await replies.request(subject, serialize(request), headers, wait)
        except TimeoutError:
            raise _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "no reply in time") from None
        except (
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionDrainingError,
        ) as e:
            raise _rpc_error(
                grpc.StatusCode.UNAVAILABLE,
                f"NATS at {redacted(self.transport.nats_url)}: {type(e).__name__}",
            ) from None
        answer = reply.headers
        if answer:
            if ERROR_CODE_HEADER in answer:
                raise _error_of(answer, reply.data)
            if answer.get(STATUS) == NO_RESPONDERS:
                raise _rpc_error(grpc.StatusCode.UNAVAILABLE, f"nothing is listening on {subject}")
        return deserialize(reply.data)


class Refused:
    """A streaming call over NATS: it fails with UNIMPLEMENTED where a gRPC
    call would report its status, when awaited or first read."""

    def __init__(self, method: str, *args: Any, **kwargs: Any) -> None:
        self._error = _rpc_error(grpc.StatusCode.UNIMPLEMENTED, _STREAMING.format(method=method))

    def __await__(self) -> Generator[Any, None, NoReturn]:
        raise self._error
        yield  # pragma: no cover (a generator, as __await__ must be)

    def __aiter__(self) -> Refused:
        return self

    async def __anext__(self) -> NoReturn:
        raise self._error

    async def read(self) -> NoReturn:
        raise self._error

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False


_STREAMING = "{method} is a streaming method: streaming calls work over gRPC only, not NATS"


def _identity(data: Any) -> Any:
    return data


def _headers(metadata: Sequence[tuple[str, str | bytes]] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, bytes):
            headers[key] = base64.b64encode(value).decode()
        else:
            headers[key] = value
    return headers


def _metadata(headers: Mapping[str, str]) -> Metadata:
    pairs: list[tuple[str, str | bytes]] = []
    for key, value in headers.items():
        if key.startswith(RESERVED):
            continue
        if key.endswith("-bin"):
            try:
                pairs.append((key, base64.b64decode(value)))
            except ValueError:
                continue  # not base64: not metadata we sent
        else:
            pairs.append((key, value))
    return tuple(pairs)


def _rpc_error(
    code: grpc.StatusCode, message: str, trailing: Metadata = ()
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=message
    )


def _error_of(headers: Mapping[str, str], body: bytes) -> grpc.aio.AioRpcError:
    try:
        code = _CODES.get(int(headers[ERROR_CODE_HEADER]), grpc.StatusCode.UNKNOWN)
    except ValueError:
        code = grpc.StatusCode.UNKNOWN
    trailing: Metadata = ((DETAILS_KEY, body),) if body else ()
    return _rpc_error(code, headers.get(ERROR_HEADER, ""), trailing)


class _CallDetails(grpc.HandlerCallDetails):
    """What an interceptor is told of a call: its method and metadata."""

    __slots__ = ("invocation_metadata", "method")

    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


DEADLINE_SWEEP = 0.05
"""Seconds between two looks for calls past their deadline, while any runs."""


class NatsServer:
    """Serves what a gRPC server would (the methods generated `add_..._to_server`
    functions register, through the same interceptors) on NATS subjects."""

    def __init__(
        self,
        transport: NatsTransport,
        interceptors: Sequence[grpc.aio.ServerInterceptor],
        service: str,
        instance: str,
    ) -> None:
        self.transport = transport
        self.service = service
        self.address = address_of(service)
        self.instance_address = instance_address(service, instance)
        self._handlers: dict[str, Any] = {}
        self._choose = self._chain(interceptors)
        self._intercepted = bool(interceptors)
        self._subscriptions: list[Any] = []
        self._running: dict[asyncio.Task[None], float | None] = {}
        """Each call being answered, and its deadline (None: none, or past and cancelled)."""
        self._sweep: asyncio.TimerHandle | None = None
        self._nc: NatsClient | None = None

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Any]) -> None:
        for method, handler in handlers.items():
            self._handlers[f"/{service}/{method}"] = handler

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Generated code registers its methods both ways; the registered
        ones say the same, by name."""

    @property
    def subjects(self) -> dict[str, str]:
        """Full method name → the subject it is served on (in the queue group)."""
        return {method: method_subject(self.address, method) for method in self._handlers}

    async def start(self) -> None:
        nc = self._nc = await self.transport.connection()
        for method, subject in self.subjects.items():
            self._subscriptions.append(
                await nc.subscribe(subject, queue=self.service, cb=self._receiver(method))
            )
        health = "/grpc.health.v1.Health/Check"
        if health in self._handlers:
            subject = method_subject(self.instance_address, health)
            self._subscriptions.append(await nc.subscribe(subject, cb=self._receiver(health)))
        await nc.flush()

    async def stop(self, grace: float | None) -> None:
        """Take no new requests; give those running `grace` seconds, then cancel them."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            try:
                await subscription.drain()
            except nats.errors.Error as error:  # a lost connection ends them anyway
                log.warning("nats server %s: unsubscribing failed: %s", self.service, error)
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    def _chain(
        self, interceptors: Sequence[grpc.aio.ServerInterceptor]
    ) -> Callable[[_CallDetails], Awaitable[Any]]:
        """The handler for a call, as the interceptors choose it; grpc.aio
        runs them in the same order, the last one asking the server."""

        async def lookup(details: grpc.HandlerCallDetails) -> Any:
            return self._handlers.get(details.method)

        choose: Callable[[Any], Awaitable[Any]] = lookup
        for interceptor in reversed(interceptors):
            choose = functools.partial(interceptor.intercept_service, choose)
        return choose

    def _receiver(self, method: str) -> Callable[[Msg], Awaitable[None]]:
        loop = asyncio.get_running_loop()
        running = self._running
        answer = self._answer

        async def receive(msg: Msg) -> None:
            # nats-py runs one subscription's callbacks one after another: each
            # request gets a task of its own so that a slow one holds up no other.
            headers = msg.headers or NO_HEADERS
            deadline = _deadline(headers)
            running[loop.create_task(answer(method, msg, headers, deadline))] = deadline
            if deadline is not None and self._sweep is None:
                self._sweep = loop.call_later(DEADLINE_SWEEP, self._cancel_late)

        return receive

    def _cancel_late(self) -> None:
        """Cancel the calls whose deadline has passed; look again later while
        any call has a deadline. One look every DEADLINE_SWEEP seconds costs
        less than a timer per call, armed and cancelled (measured: 1.2 µs of a
        call's 25 on the server), and a caller gives up at its deadline anyway:
        this only frees what its handler holds, at most DEADLINE_SWEEP later."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiting = False
        for task, deadline in self._running.items():
            if deadline is None:
                continue
            if deadline <= now:
                task.cancel()
                self._running[task] = None  # cancelled once: its reply is being sent
            else:
                waiting = True
        self._sweep = loop.call_later(DEADLINE_SWEEP, self._cancel_late) if waiting else None

    async def _answer(
        self,
        method: str,
        msg: Msg,
        headers: Mapping[str, str],
        deadline: float | None,
    ) -> None:
        """Run the call and send its reply; then leave the running calls (by
        hand, not in a done callback: one event loop turn fewer per call).
        One coroutine from the request to its reply: each coroutine more on
        the way costs on every call (profiled under `make bench`)."""
        task = asyncio.current_task()
        context = NatsContext(headers, deadline, msg.reply)
        try:
            try:
                data = await self._run(method, msg.data, context, deadline)
            except grpc.aio.AbortError:
                data = b""
            except asyncio.CancelledError:
                if deadline is None or asyncio.get_running_loop().time() < deadline:
                    raise  # the server is stopping
                context.set_code(grpc.StatusCode.DEADLINE_EXCEEDED)
                context.set_details(f"{method}: deadline exceeded on the server")
                data = b""
            except Exception:
                log.exception("%s failed", method)
                context.set_code(grpc.StatusCode.INTERNAL)
                context.set_details("internal error")
                data = b""
            if msg.reply and self._nc is not None:
                body, reply_headers = context.reply(data)
                await self._nc.publish(msg.reply, body, headers=reply_headers)
        finally:
            if task is not None:
                self._running.pop(task, None)

    def _run(
        self, method: str, data: bytes, context: NatsContext, deadline: float | None
    ) -> Awaitable[bytes]:
        """The handler's answer, serialized: the handler the interceptors
        choose, or the method's own without them."""
        if self._intercepted:
            return self._run_intercepted(method, data, context, deadline)
        return self._call(self._handlers.get(method), method, data, context, deadline)

    async def _run_intercepted(
        self, method: str, data: bytes, context: NatsContext, deadline: float | None
    ) -> bytes:
        details = _CallDetails(method, tuple(context.invocation_metadata()))
        handler = await self._choose(details)
        return await self._call(handler, method, data, context, deadline)

    async def _call(
        self,
        handler: Any,
        method: str,
        data: bytes,
        context: NatsContext,
        deadline: float | None,
    ) -> bytes:
        if handler is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method}: no such method here")
        if handler.request_streaming or handler.response_streaming:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, _STREAMING.format(method=method))
        if deadline is not None and deadline <= asyncio.get_running_loop().time():
            context.set_code(grpc.StatusCode.DEADLINE_EXCEEDED)
            context.set_details(f"{method}: the deadline had passed when the request arrived")
            return b""
        deserialize = handler.request_deserializer or _identity
        response = handler.unary_unary(deserialize(data), context)
        if inspect.isawaitable(response):
            response = await response
        if context.failed:
            return b""
        return bytes((handler.response_serializer or _identity)(response))


NO_HEADERS: Mapping[str, str] = {}


def _deadline(headers: Mapping[str, str]) -> float | None:
    """The caller's deadline, in the event loop's clock (time.monotonic)."""
    raw = headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        return time.monotonic() + float(raw)
    except ValueError:
        return None


class NatsContext(grpc.aio.ServicerContext):  # type: ignore[type-arg]
    """A handler's `context` over NATS: the parts of grpc.aio's that a unary
    call uses. `abort()` raises `grpc.aio.AbortError`, as grpc.aio's does."""

    def __init__(
        self, headers: Mapping[str, str], deadline: float | None, reply: str | None
    ) -> None:
        self._headers = headers
        self._metadata: grpc.aio.Metadata | None = None
        """Made from the headers when first asked for: most calls never do."""
        self._deadline = deadline
        self._reply = reply
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: grpc.aio.Metadata | None = None

    @property
    def failed(self) -> bool:
        return self._code is not None and self._code is not grpc.StatusCode.OK

    def reply(self, data: bytes) -> tuple[bytes, dict[str, str] | None]:
        """The reply's body and headers: the response, or the error."""
        if not self.failed:
            return data, None
        code = self._code or grpc.StatusCode.UNKNOWN
        headers = {
            ERROR_HEADER: " ".join(self._details.splitlines()) or code.name,
            ERROR_CODE_HEADER: str(code.value[0]),
        }
        details = self._trailing.get(DETAILS_KEY) if self._trailing is not None else None
        if isinstance(details, bytes):
            return details, headers
        return b"", headers

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: grpc.aio.Metadata | Sequence[tuple[str, str | bytes]] = (),
    ) -> NoReturn:
        self._code, self._details = code, details
        self.set_trailing_metadata(trailing_metadata)
        raise grpc.aio.AbortError()

    async def abort_with_status(self, status: Any) -> NoReturn:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code or grpc.StatusCode.OK

    def details(self) -> str:
        return self._details

    def set_trailing_metadata(
        self, trailing_metadata: grpc.aio.Metadata | Sequence[tuple[str, str | bytes]]
    ) -> None:
        self._trailing = grpc.aio.Metadata(*trailing_metadata)

    def trailing_metadata(self) -> grpc.aio.Metadata:
        return self._trailing if self._trailing is not None else grpc.aio.Metadata()

    def invocation_metadata(self) -> grpc.aio.Metadata:
        if self._metadata is None:
            self._metadata = grpc.aio.Metadata(*_metadata(self._headers))
        return self._metadata

    def time_remaining(self) -> float | None:  # type: ignore[override]  # None: no deadline, as in grpc.aio
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def peer(self) -> str:
        return f"nats:{self._reply}" if self._reply else "nats"

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, Any]:
        return {}

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        """Replies carry no initial metadata over NATS."""

    def set_compression(self, compression: Any) -> None:
        """NATS messages are not compressed."""

    def disable_next_message_compression(self) -> None:
        """NATS messages are not compressed."""

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    async def read(self) -> NoReturn:
        raise RuntimeError("no request stream over NATS")

    async def write(self, message: Any) -> NoReturn:
        raise RuntimeError("no response stream over NATS")


def from_options(options: Options) -> NatsTransport:
    """The "nats" plugin, on the NATS server at `options.nats_url`."""
    return NatsTransport(options.nats_url, login=options.nats_login)
