"""Every call to consignment-service needs a token signed with user-service's
key, checked here with its public keys: nothing else is asked, so nothing
registered under user-service's name can make a token pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from micro import Client, Service
from micro.errors import Unauthenticated
from micro.testing import MemoryStack
from shippy.consignment.v1 import consignment_pb2
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.token_mint import TokenMint

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub

    from conftest import UserTokens

LIST = consignment_pb2.GetConsignmentsRequest()
ALICE = "alice"


async def test_a_call_with_a_token_of_user_services_key_goes_through(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    reply = await shipping.GetConsignments(LIST, metadata=bearer(users.issue(ALICE)))

    assert list(reply.consignments) == []


async def test_a_call_without_a_token_is_unauthenticated(
    shipping: ShippingServiceAsyncStub,
) -> None:
    with pytest.raises(Unauthenticated, match="missing authorization metadata") as raised:
        await shipping.GetConsignments(LIST)

    assert raised.value.code is grpc.StatusCode.UNAUTHENTICATED


async def test_a_malformed_authorization_is_unauthenticated(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    token = users.issue(ALICE)

    with pytest.raises(Unauthenticated, match="authorization must be 'Bearer <token>'"):
        await shipping.GetConsignments(LIST, metadata=[("authorization", token)])


def another_key(mint: TokenMint, tmp_path: Path) -> str:
    return TokenMint.new(tmp_path / "attacker").token(ALICE)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda m, p: "attacker-made-this-up", "invalid token", id="made up"),
        pytest.param(another_key, "signed with an unknown key", id="another key"),
        pytest.param(
            lambda m, p: m.token(ALICE, claims={"sub": ""}), "no subject", id="empty subject"
        ),
        pytest.param(
            lambda m, p: m.token(ALICE, ttl=timedelta(days=3650)),
            "lives longer than allowed",
            id="ten years",
        ),
        pytest.param(
            lambda m, p: m.token(ALICE, issued_at=datetime.now(UTC) - timedelta(hours=2)),
            "token expired",
            id="expired",
        ),
    ],
)
async def test_a_token_that_does_not_verify_is_unauthenticated_with_its_reason(
    shipping: ShippingServiceAsyncStub,
    users: UserTokens,
    tmp_path: Path,
    make: Callable[[TokenMint, Path], str],
    message: str,
) -> None:
    token = make(users.mint, tmp_path)

    with pytest.raises(Unauthenticated, match=message):
        await shipping.GetConsignments(LIST, metadata=bearer(token))


class AcceptsEverything(user_pb2_grpc.UserServiceServicer):
    """A node that registers as user-service and says yes to every token."""

    def __init__(self) -> None:
        self.asked = 0

    async def ValidateToken(
        self, request: user_pb2.ValidateTokenRequest, context: Any
    ) -> user_pb2.ValidateTokenResponse:
        self.asked += 1
        return user_pb2.ValidateTokenResponse(user_id=ALICE)


async def test_a_fake_user_service_in_the_registry_cannot_make_a_forged_token_pass(
    shipping: ShippingServiceAsyncStub, users: UserTokens, memory_stack: MemoryStack
) -> None:
    fake = AcceptsEverything()
    impostor = memory_stack.service("shippy.user")
    impostor.handle(user_pb2_grpc.add_UserServiceServicer_to_server, fake)
    await memory_stack.start(impostor)

    with pytest.raises(Unauthenticated, match="invalid token"):
        await shipping.GetConsignments(LIST, metadata=bearer("attacker-made-this-up"))
    await shipping.GetConsignments(LIST, metadata=bearer(users.issue(ALICE)))

    assert fake.asked == 0  # never asked, for the forged token or the real one


async def test_health_checks_need_no_token(consignment_service: Service, client: Client) -> None:
    health = client.stub(health_pb2_grpc.HealthStub, "shippy.consignment")

    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))

    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_server_reflection_needs_no_token(consignment_service: Service) -> None:
    async with grpc.aio.insecure_channel(consignment_service.address) as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        reply = await anext(aiter(replies))

    names = {service.name for service in reply.list_services_response.service}
    assert "shippy.consignment.v1.ShippingService" in names
