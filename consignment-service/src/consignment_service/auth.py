"""The auth wrapper: every call needs a token that user-service accepts.

    service = Service("shippy.consignment")
    users = service.client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")
    service.wrap(AuthInterceptor(users))

Before a handler runs, the interceptor reads the `authorization: Bearer <token>`
metadata and asks user-service's ValidateToken about the token. The caller
gets UNAUTHENTICATED when the metadata is missing or malformed or the token is
rejected, and UNAVAILABLE when user-service cannot answer: a token nobody could
check is not a bad token. The handler reads the caller's id with
`current_user_id()`.

Health checks and server reflection stay open, so that orchestrators and
tools such as grpcurl work without a token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
import grpc.aio
from micro.errors import DeadlineExceeded, MicroError, Unauthenticated, Unavailable
from shippy.user.v1 import user_pb2

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub

logger = logging.getLogger("consignment_service.auth")

OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

MISSING = "missing authorization metadata"
MALFORMED = "authorization must be 'Bearer <token>'"

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

_user_id: ContextVar[str] = ContextVar("consignment_service.auth.user_id")


def current_user_id() -> str:
    """The id of the user whose token authenticated the call being handled."""
    try:
        return _user_id.get()
    except LookupError:
        raise RuntimeError(
            "current_user_id() called outside a call authenticated by AuthInterceptor"
        ) from None


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of the `authorization: Bearer <token>` pair in `metadata`."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if not values:
        raise Unauthenticated(MISSING)
    value = values[0]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated(MALFORMED)
    return token


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, users: UserServiceAsyncStub) -> None:
        self.users = users
        """user-service, which validates the tokens."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        if handler.unary_unary is None:
            raise TypeError(
                f"{handler_call_details.method}: AuthInterceptor protects unary calls only"
            )
        return grpc.unary_unary_rpc_method_handler(
            self._authenticated(handler_call_details.method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authenticated(
        self, method: str, behavior: Callable[..., Any]
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        """`behavior`, a coroutine function as grpc.aio servers call them, run
        once the token is validated, with `current_user_id()` set."""

        async def authenticated(request: Any, context: Context) -> Any:
            user_id = await self._validate(method, bearer_token(context.invocation_metadata()))
            scope = _user_id.set(user_id)
            try:
                return await behavior(request, context)
            finally:
                _user_id.reset(scope)

        return authenticated

    async def _validate(self, method: str, token: str) -> str:
        """The user id user-service finds in `token`."""
        try:
            reply = await self.users.ValidateToken(user_pb2.ValidateTokenRequest(token=token))
        except Unauthenticated as error:
            logger.info("%s: token rejected: %s", method, error.message)
            raise
        except (Unavailable, DeadlineExceeded) as error:
            logger.warning("%s: cannot validate token: %s", method, error.message)
            raise Unavailable(f"cannot validate token: {error.message}") from None
        except MicroError as error:
            logger.error("%s: user-service failed to validate a token: %s", method, error)
            raise Unavailable(f"cannot validate token: {error.message}") from None
        if not reply.user_id:
            logger.error("%s: user-service accepted a token without a user id", method)
            raise Unavailable("cannot validate token: user-service gave no user id")
        return reply.user_id
