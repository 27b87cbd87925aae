"""Every consignment-service call needs a token user-service issued and that is
still valid; anything else is UNAUTHENTICATED, before the handler runs."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
import pytest
from micro.errors import Unauthenticated
from shippy.consignment.v1 import consignment_pb2
from shippy_kit.cli import bearer

from .backends import JWT_SECRET, Stack
from .helpers import Account

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub

ISSUER = "shippy.user"
"""user-service's default JWT_ISSUER."""

Metadata = Sequence[tuple[str, str]]


def token(secret: str, user: Account, *, expires_in: timedelta, issuer: str = ISSUER) -> str:
    """A token such as user-service issues, made here with `secret`."""
    now = datetime.now(UTC)
    claims = {"sub": user.id, "iat": now, "exp": now + expires_in, "iss": issuer}
    return jwt.encode(claims, secret, algorithm="HS256")


def no_token(stack: Stack, user: Account) -> Metadata:
    return ()


def not_a_bearer_token(stack: Stack, user: Account) -> Metadata:
    return (("authorization", "Basic YWRhOnNlY3JldA=="),)


def not_a_jwt(stack: Stack, user: Account) -> Metadata:
    return bearer("not-a-jwt")


def forged_with_another_secret(stack: Stack, user: Account) -> Metadata:
    return bearer(token(secrets.token_hex(32), user, expires_in=timedelta(hours=1)))


def expired(stack: Stack, user: Account) -> Metadata:
    return bearer(token(stack.jwt_secret, user, expires_in=timedelta(minutes=-1)))


def from_another_issuer(stack: Stack, user: Account) -> Metadata:
    return bearer(
        token(stack.jwt_secret, user, expires_in=timedelta(hours=1), issuer="someone.else")
    )


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(no_token, id="no token"),
        pytest.param(not_a_bearer_token, id="not a bearer token"),
        pytest.param(not_a_jwt, id="not a JWT"),
        pytest.param(forged_with_another_secret, id="forged with another secret"),
        pytest.param(expired, id="expired", marks=pytest.mark.needs(JWT_SECRET)),
        pytest.param(
            from_another_issuer, id="from another issuer", marks=pytest.mark.needs(JWT_SECRET)
        ),
    ],
)
async def test_a_call_without_a_valid_token_is_unauthenticated(
    stack: Stack,
    shipping: ShippingServiceAsyncStub,
    user: Account,
    credentials: Callable[[Stack, Account], Metadata],
) -> None:
    metadata = credentials(stack, user)
    request = consignment_pb2.CreateConsignmentRequest(
        description="Contraband",
        weight=100,
        containers=[consignment_pb2.Container(customer_id="cust001", origin="Nowhere")],
    )

    with pytest.raises(Unauthenticated):
        await shipping.CreateConsignment(request, metadata=metadata)
    with pytest.raises(Unauthenticated):
        await shipping.GetConsignments(consignment_pb2.GetConsignmentsRequest(), metadata=metadata)


@pytest.mark.needs(JWT_SECRET)
async def test_a_token_made_here_with_the_stacks_secret_is_accepted(
    stack: Stack, shipping: ShippingServiceAsyncStub, user: Account
) -> None:
    """The control for the cases above: the tokens they spoil are the real thing."""
    metadata = bearer(token(stack.jwt_secret, user, expires_in=timedelta(minutes=5)))

    listed = await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(), metadata=metadata
    )

    assert list(listed.consignments) == []
