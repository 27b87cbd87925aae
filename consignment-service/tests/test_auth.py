"""Every call to consignment-service needs a token that user-service accepts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import grpc
import pytest
from consignment_service.auth import bearer_token
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from micro import Client, Service
from micro.errors import Unauthenticated, Unavailable
from shippy.consignment.v1 import consignment_pb2

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub

    from conftest import FakeUserService

LIST = consignment_pb2.GetConsignmentsRequest()


@pytest.mark.parametrize(
    "metadata",
    [
        [("authorization", "Bearer abc.def.ghi")],
        [("authorization", "bearer abc.def.ghi")],
        [("x-request-id", "7"), ("authorization", "  Bearer   abc.def.ghi ")],
    ],
)
def test_the_token_is_what_follows_bearer(metadata: list[tuple[str, str]]) -> None:
    assert bearer_token(metadata) == "abc.def.ghi"


@pytest.mark.parametrize("metadata", [None, [], [("x-request-id", "7")]])
def test_no_authorization_metadata_is_unauthenticated(
    metadata: list[tuple[str, str]] | None,
) -> None:
    with pytest.raises(Unauthenticated, match="missing authorization metadata"):
        bearer_token(metadata)


@pytest.mark.parametrize(
    "value", ["abc.def.ghi", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b"]
)
def test_authorization_that_is_not_a_bearer_token_is_unauthenticated(value: str) -> None:
    with pytest.raises(Unauthenticated, match="authorization must be 'Bearer <token>'"):
        bearer_token([("authorization", value)])


async def test_a_call_with_an_accepted_token_goes_through(
    shipping: ShippingServiceAsyncStub, users: FakeUserService
) -> None:
    token = users.issue("alice")

    reply = await shipping.GetConsignments(LIST, metadata=[("authorization", f"Bearer {token}")])

    assert list(reply.consignments) == []


async def test_a_call_without_a_token_is_unauthenticated(
    shipping: ShippingServiceAsyncStub, users: FakeUserService
) -> None:
    with pytest.raises(Unauthenticated, match="missing authorization metadata") as raised:
        await shipping.GetConsignments(LIST)

    assert raised.value.code is grpc.StatusCode.UNAUTHENTICATED


async def test_a_malformed_authorization_is_unauthenticated(
    shipping: ShippingServiceAsyncStub, users: FakeUserService
) -> None:
    token = users.issue("alice")

    with pytest.raises(Unauthenticated, match="authorization must be 'Bearer <token>'"):
        await shipping.GetConsignments(LIST, metadata=[("authorization", token)])


async def test_a_token_user_service_rejects_is_unauthenticated_with_its_reason(
    shipping: ShippingServiceAsyncStub, users: FakeUserService
) -> None:
    with pytest.raises(Unauthenticated, match="token is invalid or has expired"):
        await shipping.GetConsignments(LIST, metadata=[("authorization", "Bearer forged")])


async def test_no_user_service_to_ask_is_unavailable_not_unauthenticated(
    shipping: ShippingServiceAsyncStub,
) -> None:
    with pytest.raises(
        Unavailable, match=re.escape('cannot validate token: service "shippy.user"')
    ) as raised:
        await shipping.GetConsignments(LIST, metadata=[("authorization", "Bearer abc")])

    assert raised.value.code is grpc.StatusCode.UNAVAILABLE


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
