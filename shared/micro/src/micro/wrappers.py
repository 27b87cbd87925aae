"""Server wrappers: what turns a handler's exception into the status a caller sees.

A handler raises `micro.errors.MicroError` (say `InvalidArgument("email",
"is required")`) and the caller gets that code and message. Any other
exception is logged here with its traceback and the method's name, and the
caller gets INTERNAL "internal error", without internals.

The mapping is put around each servicer method once, when the service
handles the servicer (`wrap_handler`), not in a generic grpc.aio interceptor:
an interceptor runs for every call and costs a measurable share of a small
RPC. A service that adds its own interceptors gets `ErrorInterceptor` as the
outermost one, so that a `MicroError` raised by those interceptors (an auth
check, say) reaches the caller the same way.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, TypeAlias

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from grpc_status import rpc_status

from micro.errors import Internal, InvalidArgument, MicroError
from micro.services_api import EndpointStats

logger = logging.getLogger("micro.server")

# grpc's classes are generic only in their type stubs: these aliases are strings.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
MethodHandler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[MethodHandler | None]]"

INTERNAL_MESSAGE = "internal error"


def wrap_handler(method: str, handler: MethodHandler) -> MethodHandler:
    """`handler` with its behavior wrapped in the error mapping.

    `method` is the full method name ("/shippy.user.v1.UserService/Create"),
    used in the log line. Every request is checked as it is read (`Refused`)
    and refused before the handler sees it; each message of a stream of
    requests as the handler reads it with `async for` (`context.read()`
    bypasses the refusal: it returns the `Refused` itself).
    Synchronous behaviors (the generated base class's UNIMPLEMENTED methods)
    are left as they are.
    """
    behavior, factory = _behavior_of(handler)
    streamed = handler.request_streaming
    if inspect.isasyncgenfunction(behavior):
        wrapped: Callable[..., Any] = _map_stream_errors(method, behavior, streamed)
    elif inspect.iscoroutinefunction(behavior):
        wrapped = _map_errors(method, behavior, streamed)
    else:
        return handler
    deserialize = handler.request_deserializer
    if deserialize is not None:
        deserialize = _readable(deserialize)
    return factory(
        wrapped,
        request_deserializer=deserialize,
        response_serializer=handler.response_serializer,
    )


class Refused(NamedTuple):
    """Stands for a request refused as it was read: bytes that are not a valid
    message (invalid UTF-8 in a string field, say: gRPC would answer UNKNOWN
    with protobuf's internals), or a text field holding a NUL character (no
    database and few programs take one). The handler's wrapper answers
    INVALID_ARGUMENT naming the field instead of calling the handler."""

    field: str
    reason: str


NUL_REASON = "must not contain a NUL character"


def _readable(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            request = deserialize(data)
        except DecodeError as error:
            reason = str(error) or "not a valid protobuf message"
            return Refused("request", f"cannot be read: {reason}")
        # A NUL in any text field is a zero byte on the wire: most requests
        # hold none, and skip the walk through their fields.
        if b"\x00" in data and isinstance(request, ProtoMessage):
            field = _field_with_nul(request, "")
            if field is not None:
                return Refused(field, NUL_REASON)
        return request

    return parse


def check_request(request: Any) -> None:
    """INVALID_ARGUMENT for a request refused as it was read (`Refused`):
    before the handler spends any work on it."""
    if isinstance(request, Refused):
        raise InvalidArgument(request.field, request.reason)


def _field_with_nul(message: ProtoMessage, prefix: str) -> str | None:
    for descriptor, value in message.ListFields():
        path = f"{prefix}{descriptor.name}"
        if descriptor.type == descriptor.TYPE_STRING:
            values = value if _repeated(descriptor) else (value,)
            for index, text in enumerate(values):
                if "\x00" in text:
                    return f"{path}[{index}]" if _repeated(descriptor) else path
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            if _repeated(descriptor):
                is_map = descriptor.message_type is not None and (
                    descriptor.message_type.GetOptions().map_entry
                )
                items = value.values() if is_map else value
                for index, item in enumerate(items):
                    if isinstance(item, ProtoMessage):
                        found = _field_with_nul(item, f"{path}[{index}].")
                        if found is not None:
                            return found
            else:
                found = _field_with_nul(value, f"{path}.")
                if found is not None:
                    return found
    return None


def _repeated(descriptor: Any) -> bool:
    return bool(descriptor.is_repeated)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """The outermost interceptor of a server that has user interceptors.

    Maps a `MicroError` raised while the interceptors choose a handler, and
    wraps the handler they return (which may be a new one) in the mapping.
    """

    def __init__(
        self,
        handlers: Mapping[str, MethodHandler],
        stats: Mapping[str, EndpointStats] | None = None,
    ) -> None:
        self._handlers = handlers
        """The server's own handlers by full method name, already wrapped."""
        self._stats = stats or {}
        """Where each method's calls are counted, as the outermost layer sees them."""
        self._counted = {
            method: counted(handler, self._stats[method])
            for method, handler in handlers.items()
            if method in self._stats
        }

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> MethodHandler | None:
        method = handler_call_details.method
        try:
            handler = await continuation(handler_call_details)
        except MicroError as error:
            return self._count(method, self._rejecting(method, error))
        except Exception:
            logger.exception("%s: an interceptor failed", method)
            return self._count(method, self._rejecting(method, None))
        if handler is None:
            return None
        if handler is self._handlers.get(method):
            return self._counted.get(method, handler)
        return self._count(method, wrap_handler(method, handler))

    def _count(self, method: str, handler: MethodHandler | None) -> MethodHandler | None:
        stats = self._stats.get(method)
        if handler is None or stats is None:
            return handler
        return counted(handler, stats)

    def _rejecting(self, method: str, error: MicroError | None) -> MethodHandler | None:
        """A handler that answers with `error` (INTERNAL when None)."""
        handler = self._handlers.get(method)
        if handler is None:
            return None

        async def reject(request: Any, context: Context) -> None:
            await abort(context, error or Internal(INTERNAL_MESSAGE))

        factory = _FACTORIES[handler.request_streaming, handler.response_streaming]
        return factory(reject, None, None)


def counted(handler: MethodHandler, stats: EndpointStats) -> MethodHandler:
    """`handler`, its calls counted in `stats` (the services API's STATS):
    each one, its time, and those that end in an error. Streaming responses
    are not counted."""
    behavior, factory = _behavior_of(handler)
    if not inspect.iscoroutinefunction(behavior):
        return handler

    async def counting(request: Any, context: Context) -> Any:
        started = time.perf_counter_ns()
        try:
            response = await behavior(request, context)
        except BaseException:
            stats.record(time.perf_counter_ns() - started, _error_of(context))
            raise
        stats.record(time.perf_counter_ns() - started, None)
        return response

    return factory(
        counting,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _error_of(context: Context) -> str:
    code = context.code()
    name = code.name if isinstance(code, grpc.StatusCode) else "CANCELLED"
    return f"{name}: {context.details() or ''}".rstrip(": ")


async def abort(context: Context, error: MicroError) -> None:
    """End the call with `error`'s code and message, and its details if it has any."""
    details = error.status_details()
    if details is None:
        await context.abort(error.code, error.message)
    else:
        status = rpc_status.to_status(details)
        await context.abort(status.code, status.details, status.trailing_metadata)


@asynccontextmanager
async def _answering_errors(method: str, context: Context) -> AsyncIterator[None]:
    """Inside: a `MicroError` ends the call with its status; anything else is
    logged with its traceback and ends it as INTERNAL, without internals."""
    try:
        yield
    except grpc.aio.AbortError:
        raise
    except Exception as error:
        await _answer_error(method, context, error)


async def _answer_error(method: str, context: Context, error: Exception) -> None:
    """Called while `error` is being handled: ends the call with its status."""
    if isinstance(error, MicroError):
        await abort(context, error)
    else:
        logger.exception("%s failed", method)
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def _map_errors(
    method: str, behavior: Callable[[Any, Context], Awaitable[Any]], streamed: bool
) -> Callable[[Any, Context], Awaitable[Any]]:
    # What `_answering_errors` does, without a context manager: this runs on
    # every unary call, and contextlib's cost shows in the benchmarks.
    async def mapped(request: Any, context: Context) -> Any:
        try:
            return await behavior(_checked(request, streamed), context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _answer_error(method, context, error)

    return mapped


def _map_stream_errors(
    method: str, behavior: Callable[[Any, Context], AsyncIterator[Any]], streamed: bool
) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def mapped(request: Any, context: Context) -> AsyncIterator[Any]:
        async with _answering_errors(method, context):
            async for response in behavior(_checked(request, streamed), context):
                yield response

    return mapped


def _checked(request: Any, streamed: bool) -> Any:
    """`request`, once `check_request` lets it through; a stream of requests
    (`streamed`) is checked message by message as the handler reads it, so a
    bad one ends the call with INVALID_ARGUMENT at that point."""
    if streamed:
        return _each_checked(request)
    check_request(request)
    return request


async def _each_checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        check_request(request)
        yield request


_Factory = Callable[..., MethodHandler]

_FACTORIES: dict[tuple[bool, bool], _Factory] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _behavior_of(handler: MethodHandler) -> tuple[Callable[..., Any] | None, _Factory]:
    kind = (handler.request_streaming, handler.response_streaming)
    behavior = {
        (False, False): handler.unary_unary,
        (False, True): handler.unary_stream,
        (True, False): handler.stream_unary,
        (True, True): handler.stream_stream,
    }[kind]
    return behavior, _FACTORIES[kind]
