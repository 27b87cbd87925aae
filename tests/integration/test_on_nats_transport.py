"""The README's journey again, on a stack whose services run on the NATS
transport (`MICRO_TRANSPORT=nats`: RPC as NATS request/reply, no gRPC port),
started the way `make run` starts it with that variable. The CLIs are the
same, with the default transport: the registry nodes say `protocol: nats`,
so their calls go over NATS. And what only NATS gives: instances of a
service share one queue group, so a killed one gets no more requests at
once, and every instance answers the NATS services API. consignment-service's
auth wrapper (a grpc.aio server interceptor) runs unchanged over NATS."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from devstack.settings import StackSettings
from devstack.stack import LocalStack
from devstack.unprivileged import scratch_dir
from micro.errors import Unauthenticated
from micro.registry.nats import NatsRegistry
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.health_probe import check_nats

from .backends import LocalBackend, Stack
from .helpers import (
    connect,
    request,
    sign_up_get_the_welcome_email_log_in_and_ship,
    signup,
    wait_until,
)

USER_SERVICE = "user-service"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """This module's stack (instead of conftest's): every service on the NATS transport,
    its NATS with make run's authorization (a login per service)."""
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "stack-nats-transport-") as var_dir,
        LocalStack(
            var_dir,
            StackSettings(transport="nats", nats_authorization=True),
            env={"BCRYPT_ROUNDS": "4"},
        ) as local,
    ):
        yield local


@pytest.fixture(scope="module")
def stack(local: LocalStack) -> Stack:
    return LocalBackend(local)


async def test_the_services_register_nats_nodes_without_a_port(stack: Stack) -> None:
    registry = NatsRegistry(stack.nats_url)
    try:
        [record] = await registry.get_service("shippy.user")
    finally:
        await registry.close()
    [node] = record.nodes
    assert node.metadata["protocol"] == "nats"
    assert node.address == "micro.rpc.shippy.user"


def test_sign_up_get_the_welcome_email_log_in_and_ship(stack: Stack) -> None:
    sign_up_get_the_welcome_email_log_in_and_ship(stack)


async def test_a_killed_instance_gets_no_more_requests_at_once(
    stack: Stack, local: LocalStack
) -> None:
    second = await asyncio.to_thread(stack.start_extra_instance, USER_SERVICE)
    async with connect(stack) as client:
        users = client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")
        user = (await users.Create(signup())).user
        token = stack.token_mint.token(user.id)
        created: list[str] = []

        async def both_have_served() -> bool:
            created.append((await users.Create(signup())).user.id)
            logs = stack.instance_logs(USER_SERVICE)
            return all(any(user_id in logs[i] for user_id in created) for i in (0, second))

        await wait_until(both_have_served, within=10.0, waiting_for="both instances to serve")

        stack.kill_instance(USER_SERVICE, second)
        killed_at = time.monotonic()
        # The NATS server drops the dead connection's subscriptions as soon as
        # it sees the connection close, a moment after the SIGKILL; a request
        # sent in that moment may still go to it (and is never sent again), so
        # wait for the moment to pass: the killed instance's own subject then
        # has no responders.
        dead = local.instance(USER_SERVICE, second).address

        def nobody_answers_for_the_dead_one() -> bool:
            problem = check_nats(local.nats_url, dead, timeout=1.0)
            return problem is not None and "nothing is listening" in problem

        await wait_until(
            lambda: asyncio.to_thread(nobody_answers_for_the_dead_one),
            within=5.0,
            waiting_for="the NATS server to drop the killed instance's subscriptions",
        )
        for _ in range(20):
            found = await users.Get(user_pb2.GetRequest(id=user.id), metadata=bearer(token))
            assert found.user.id == user.id
        # All answered by the live instance, long before the dead one's
        # registration (TTL 15 s) would have expired.
        assert time.monotonic() - killed_at < 5.0


async def test_consignment_services_auth_wrapper_works_unchanged_over_nats(stack: Stack) -> None:
    async with connect(stack) as client:
        shipping = client.stub(consignment_pb2_grpc.ShippingServiceStub, "shippy.consignment")
        with pytest.raises(Unauthenticated, match="missing authorization metadata"):
            await shipping.GetConsignments(consignment_pb2.GetConsignmentsRequest())
        expired = stack.token_mint.token("someone", ttl=timedelta(seconds=-60))
        with pytest.raises(Unauthenticated):
            await shipping.GetConsignments(
                consignment_pb2.GetConsignmentsRequest(), metadata=bearer(expired)
            )
        valid = stack.token_mint.token(str(uuid.uuid4()))
        listed = await shipping.GetConsignments(
            consignment_pb2.GetConsignmentsRequest(), metadata=bearer(valid)
        )
    assert list(listed.consignments) == []


async def test_every_service_answers_the_nats_services_api(stack: Stack) -> None:
    pings = await request(stack, "$SRV.PING")
    assert {p["name"] for p in pings} >= {
        "shippy_user", "shippy_email", "shippy_vessel", "shippy_consignment",
    }  # fmt: skip
    assert {p["type"] for p in pings} == {"io.nats.micro.v1.ping_response"}

    [info] = await request(stack, "$SRV.INFO.shippy_user")
    assert info["type"] == "io.nats.micro.v1.info_response"
    assert info["metadata"]["micro_service"] == "shippy.user"
    create = next(e for e in info["endpoints"] if e["name"].endswith("UserService_Create"))
    assert create["subject"] == "micro.rpc.shippy.user.shippy.user.v1.UserService.Create"
    assert create["queue_group"] == "shippy.user"

    [stats] = await request(stack, f"$SRV.STATS.shippy_user.{info['id']}")
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    counted = {e["name"]: e for e in stats["endpoints"]}
    assert counted[create["name"]]["num_requests"] >= 1  # the tests above signed users up
    assert counted[create["name"]]["processing_time"] > 0
