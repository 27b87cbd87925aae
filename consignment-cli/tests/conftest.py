"""Fixtures for consignment-cli tests: the CLI run in-process with its output
captured, and a small in-test ShippingService served by a real micro Service
on a real NATS (the `nats_url` fixture), found by the CLI through the registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from consignment_cli.main import main
from devstack.testing import RunCli, cli_runner, serving
from micro.errors import FailedPrecondition, Unauthenticated
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc

Context = grpc.aio.ServicerContext[object, object]

TOKENS = {"ada-token": "user-ada", "grace-token": "user-grace"}
"""The tokens the fake accepts, and whose they are."""


class FakeShipping(consignment_pb2_grpc.ShippingServiceServicer):
    """Just enough of consignment-service to answer the CLI; the real one has its own tests."""

    def __init__(self) -> None:
        self.consignments: list[consignment_pb2.Consignment] = []

    async def CreateConsignment(
        self, request: consignment_pb2.CreateConsignmentRequest, context: Context
    ) -> consignment_pb2.CreateConsignmentResponse:
        user_id = self._caller(context)
        if request.weight > 500_000:
            raise FailedPrecondition("no vessel available for 1 containers weighing 600000 kg")
        consignment = consignment_pb2.Consignment(
            id=str(uuid.uuid4()),
            description=request.description,
            weight=request.weight,
            containers=request.containers,
            vessel_id="vessel-boaty",
            user_id=user_id,
        )
        self.consignments.append(consignment)
        return consignment_pb2.CreateConsignmentResponse(consignment=consignment)

    async def GetConsignments(
        self, request: consignment_pb2.GetConsignmentsRequest, context: Context
    ) -> consignment_pb2.GetConsignmentsResponse:
        """Pages of two, as consignment-service pages them (the token: where to start)."""
        user_id = self._caller(context)
        mine = [c for c in self.consignments if c.user_id == user_id]
        start = int(request.page_token or 0)
        page = consignment_pb2.GetConsignmentsResponse(consignments=mine[start : start + 2])
        if start + 2 < len(mine):
            page.next_page_token = str(start + 2)
        return page

    @staticmethod
    def _caller(context: Context) -> str:
        metadata = dict(context.invocation_metadata() or ())
        scheme, _, token = str(metadata.get("authorization", "")).partition(" ")
        if scheme != "Bearer" or token not in TOKENS:
            raise Unauthenticated("invalid token")
        return TOKENS[token]


@pytest.fixture
async def shipping(stack_env: str) -> AsyncIterator[FakeShipping]:
    """A ShippingService registered as "shippy.consignment" in the NATS registry."""
    fake = FakeShipping()
    add = consignment_pb2_grpc.add_ShippingServiceServicer_to_server
    async with serving("shippy.consignment", add, fake, stack_env):
        yield fake


@pytest.fixture
def consignment_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Runs `consignment-cli ARGS...` in-process; returns (exit code, stdout, stderr)."""
    return cli_runner(main, capsys, monkeypatch)
