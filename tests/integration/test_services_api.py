"""Every service answers the NATS services API (ADR-32), on the default
transport too: gRPC services say where their gRPC server is."""

from __future__ import annotations

from .backends import Stack
from .helpers import Account, request

SERVICES = {"shippy_user", "shippy_email", "shippy_vessel", "shippy_consignment"}


async def test_every_grpc_service_answers_ping_with_its_grpc_address(stack: Stack) -> None:
    pings = [p for p in await request(stack, "$SRV.PING") if p["name"] in SERVICES]

    assert {p["name"] for p in pings} == SERVICES
    for ping in pings:
        assert ping["type"] == "io.nats.micro.v1.ping_response"
        assert ping["metadata"]["protocol"] == "grpc"
        assert ping["metadata"]["grpc_address"].rpartition(":")[2].isdigit()


async def test_stats_count_the_calls_of_a_grpc_service(stack: Stack, user: Account) -> None:
    [stats, *_] = await request(stack, "$SRV.STATS.shippy_user")

    assert stats["type"] == "io.nats.micro.v1.stats_response"
    create = next(e for e in stats["endpoints"] if e["name"].endswith("UserService_Create"))
    assert create["num_requests"] >= 1  # the `user` fixture signed up
    assert create["subject"] == ""  # served over gRPC, not on NATS
