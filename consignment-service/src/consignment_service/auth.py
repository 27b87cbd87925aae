"""The auth wrapper: every call needs a token, checked here with user-service's
public keys (`shippy_kit.tokens`), never by asking another service.

    service.wrap(AuthInterceptor(config.tokens.verifier()))
    vessels = OnBehalfOfCaller(service.client.stub(VesselServiceStub, "shippy.vessel"))

Before a handler runs, the interceptor reads the `authorization: Bearer <token>`
metadata and verifies the token locally: a missing, malformed, forged,
expired or too long-lived token is UNAUTHENTICATED. No RPC is made, so a node
that registers itself as `shippy.user` has nothing to answer, and a token
cannot be checked "by" it. The handler reads the caller's id with
`current_user_id()`; vessel-service is called with the caller's own token.

Health checks and server reflection stay open, so that orchestrators and
tools such as grpcurl work without a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shippy.vessel.v1 import vessel_pb2
from shippy_kit.auth import TokenInterceptor, bearer, current_claims, current_token
from shippy_kit.tokens import TokenVerifier

if TYPE_CHECKING:
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub


class AuthInterceptor(TokenInterceptor):
    """Every ShippingService method needs a valid token."""

    def __init__(self, verifier: TokenVerifier) -> None:
        super().__init__(verifier)


def current_user_id() -> str:
    """The id of the user whose token authenticated the call being handled."""
    return current_claims().subject


class OnBehalfOfCaller:
    """vessel-service's stub, called with the token of the call being handled:
    vessel-service checks it too, and books the load for that user."""

    def __init__(self, vessels: VesselServiceAsyncStub) -> None:
        self._vessels = vessels

    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, **options: Any
    ) -> vessel_pb2.FindAvailableResponse:
        return await self._vessels.FindAvailable(
            request, metadata=bearer(current_token()), **options
        )

    async def Release(
        self, request: vessel_pb2.ReleaseRequest, **options: Any
    ) -> vessel_pb2.ReleaseResponse:
        """Only who booked may release: the same caller's token, again."""
        return await self._vessels.Release(request, metadata=bearer(current_token()), **options)
