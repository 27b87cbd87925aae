"""The whole stack, as a user sees it, for every test in this folder.

Tests ask for `stack` (see backends.Stack) and for clients of its services;
they never reach into how the stack runs. Which stacks: SHIPPY_TEST_STACKS
(default `local`, the processes `make run` starts). A test that needs a
capability some stack lacks says so and is skipped there:

    @pytest.mark.needs(backends.SCALING)
    async def test_two_instances_share_the_calls(stack: Stack, users: ...) -> None: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from micro import Client
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2_grpc

from . import backends
from .backends import Stack
from .helpers import Account, CreateUser, LogIn, connect, signup

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"needs(capability): skip on stacks that lack it (one of {', '.join(backends.CAPABILITIES)})",
    )


@pytest.fixture(scope="session", params=backends.selected())
def stack(request: pytest.FixtureRequest) -> Stack:
    """The running stack; started once per session by its backend."""
    return backends.BACKENDS[request.param](request)


@pytest.fixture(autouse=True)
def _skip_unless_capable(request: pytest.FixtureRequest, stack: Stack) -> None:
    for marker in request.node.iter_markers("needs"):
        for capability in marker.args:
            if capability not in backends.CAPABILITIES:
                raise pytest.UsageError(f"needs({capability!r}): no such capability")
            if capability not in stack.capabilities:
                pytest.skip(f"the {stack.name} stack has no {capability!r} capability")


@pytest.fixture(scope="session")
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with connect(stack) as client:
        yield client


@pytest.fixture(scope="session")
def users(client: Client) -> UserServiceAsyncStub:
    return client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")


@pytest.fixture(scope="session")
def shipping(client: Client) -> ShippingServiceAsyncStub:
    return client.stub(consignment_pb2_grpc.ShippingServiceStub, "shippy.consignment")


@pytest.fixture(scope="session")
def vessels(client: Client) -> VesselServiceAsyncStub:
    return client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")


@pytest.fixture
def create_user(users: UserServiceAsyncStub) -> CreateUser:
    """`await create_user(name=..., email=..., company=...)`: a new user, signed up
    through user-service; every field has a default, the email is unique."""

    async def create(**fields: str) -> Account:
        request = signup(**fields)
        reply = await users.Create(request)
        return Account(
            id=reply.user.id,
            name=reply.user.name,
            email=reply.user.email,
            company=reply.user.company,
            password=request.password,
        )

    return create


@pytest.fixture
async def user(create_user: CreateUser) -> Account:
    """A user of one's own, new for this test."""
    return await create_user()


@pytest.fixture
def log_in(users: UserServiceAsyncStub) -> LogIn:
    """`await log_in(account)`: a token for `account`, as `user-cli login` gets one."""

    async def log_in(account: Account) -> str:
        credentials = user_pb2.AuthRequest(email=account.email, password=account.password)
        return (await users.Auth(credentials)).token

    return log_in


@pytest.fixture
async def token(log_in: LogIn, user: Account) -> str:
    """`user`'s token."""
    return await log_in(user)
