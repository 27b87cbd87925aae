"""The auth wrapper: calls need a token this process verifies itself.

    service.wrap(TokenInterceptor(verifier, open_methods={"/shippy.user.v1.UserService/Auth"}))

    async def Create(self, request, context):
        caller = require_role(OPERATOR, ADMIN)      # PERMISSION_DENIED without one
        ...

Before a protected method's handler runs, the interceptor reads the
`authorization: Bearer <token>` metadata and checks the token with a
`shippy_kit.tokens.TokenVerifier`: the public keys are local, so no other
process (and nothing registered under a service's name) is asked. A missing,
malformed or rejected token is UNAUTHENTICATED. The handler reads who called
with `current_claims()`, and `current_token()` gives the token to pass on to
another service on the caller's behalf.

Health checks and server reflection stay open, so that orchestrators and
tools such as grpcurl work without a token; so do the `open_methods`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc
import grpc.aio
from micro.errors import PermissionDenied, Unauthenticated

from shippy_kit.tokens import Claims, TokenVerifier

logger = logging.getLogger("shippy_kit.auth")

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


@dataclass(frozen=True)
class Caller:
    claims: Claims
    token: str = field(repr=False)


_caller: ContextVar[Caller] = ContextVar("shippy_kit.auth.caller")


def current_claims() -> Claims:
    """The verified claims of the token of the call being handled."""
    return _current().claims


def current_token() -> str:
    """The token of the call being handled, to send on for the same caller."""
    return _current().token


def require_role(*roles: str) -> Claims:
    """The caller's claims if the token gives one of `roles`, else PERMISSION_DENIED."""
    claims = current_claims()
    if not claims.has_role(*roles):
        raise PermissionDenied(f"needs the role {' or '.join(roles)}")
    return claims


def _current() -> Caller:
    try:
        return _caller.get()
    except LookupError:
        raise RuntimeError("called outside a call authenticated by TokenInterceptor") from None


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that carries the user's `token`, as the services read it."""
    return (("authorization", f"Bearer {token}"),)


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


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier, *, open_methods: Collection[str] = ()) -> None:
        """`open_methods`: full method names (`/package.Service/Method`) that
        need no token, besides health and reflection."""
        self.verifier = verifier
        self.open_methods = frozenset(open_methods)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if (
            handler is None
            or method in self.open_methods
            or method.startswith(OPEN_METHOD_PREFIXES)
        ):
            return handler
        if handler.unary_unary is None:
            raise TypeError(f"{method}: TokenInterceptor protects unary calls only")
        return grpc.unary_unary_rpc_method_handler(
            self._authenticated(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authenticated(
        self, method: str, behavior: Callable[..., Any]
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        """`behavior`, a coroutine function as grpc.aio servers call them, run
        once the token is verified, with `current_claims()` set."""

        async def authenticated(request: Any, context: Context) -> Any:
            token = bearer_token(context.invocation_metadata())
            try:
                claims = self.verifier.verify(token)
            except Unauthenticated as error:
                logger.info("%s: token rejected: %s", method, error.message)
                raise
            scope = _caller.set(Caller(claims, token))
            try:
                return await behavior(request, context)
            finally:
                _caller.reset(scope)

        return authenticated
