"""More instances of a service share its calls, found through the registry, and
losing one of them (SIGKILL: no goodbye to the registry) does not stop the users."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from micro.testing import eventually
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy_kit.auth import bearer

from .backends import LOGS, SCALING, Stack
from .helpers import Account, connect, run_cli, signup, succeeded, wait_until

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub

pytestmark = pytest.mark.needs(SCALING, LOGS)

USER_SERVICE = "user-service"
READY = grpc.ChannelConnectivity.READY


@pytest.fixture
def second_user_service(stack: Stack) -> Iterator[int]:
    """The index of one more user-service instance, serving beside the first."""
    index = stack.start_extra_instance(USER_SERVICE)
    yield index
    stack.kill_instance(USER_SERVICE, index)


async def sign_up_until_both_have_served(
    stack: Stack, users: UserServiceAsyncStub, instances: tuple[int, int]
) -> None:
    """Sign users up until each of `instances` has logged one of them."""
    created: list[str] = []

    async def both_have_served() -> bool:
        created.append((await users.Create(signup())).user.id)
        logs = stack.instance_logs(USER_SERVICE)
        return all(any(user_id in logs[i] for user_id in created) for i in instances)

    await wait_until(both_have_served, within=10.0, waiting_for=f"instances {instances} to serve")


async def test_two_instances_of_user_service_both_serve_calls(
    stack: Stack, second_user_service: int
) -> None:
    async with connect(stack) as client:
        users = client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")

        await sign_up_until_both_have_served(stack, users, (0, second_user_service))


async def test_calls_keep_working_when_an_instance_is_killed(
    stack: Stack, second_user_service: int, user: Account, token: str
) -> None:
    async with connect(stack) as client:
        users = client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")
        await sign_up_until_both_have_served(stack, users, (0, second_user_service))

        stack.kill_instance(USER_SERVICE, second_user_service)
        # The client hears of the lost connection from its socket, a moment
        # after the kill; a call sent before that is never sent again (it may
        # have run, as far as a client can tell), so wait until it has heard.
        await eventually(
            lambda: sum(ch.get_state() is READY for ch in client._channels.values()) == 1,
            within=10.0,
            waiting_for="the client to see the killed instance's connection close",
        )

        # This client still has the dead node in its selector: round robin
        # picks it every other call, and the call moves to the live one.
        for _ in range(4):
            found = await users.Get(user_pb2.GetRequest(id=user.id), metadata=bearer(token))
            assert found.user.id == user.id

    for _ in range(3):
        got = await asyncio.to_thread(run_cli, stack, "user-cli", "get", user.id, "--token", token)
        assert user.email in succeeded(got).stdout
    # consignment-service checks each token itself, and calls no user-service.
    for _ in range(3):
        listed = await asyncio.to_thread(
            run_cli, stack, "consignment-cli", "list", "--token", token
        )
        assert succeeded(listed).stdout.strip() == "no consignments"
