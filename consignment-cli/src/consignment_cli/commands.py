"""The calls consignment-cli makes to consignment-service (`shippy.consignment`).

Every call carries the user's token (`shippy_kit.cli.bearer`: `authorization:
Bearer <token>` metadata). Each returns the service's reply as it came; `output` decides how
it looks. A failed call raises the `micro.errors` class of its status code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from micro import Options
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.cli import connect

SERVICE = "shippy.consignment"


@asynccontextmanager
async def shipping_service(
    options: Options,
) -> AsyncIterator[consignment_pb2_grpc.ShippingServiceAsyncStub]:
    async with connect(options) as client:
        yield client.stub(consignment_pb2_grpc.ShippingServiceStub, SERVICE)


async def create(
    options: Options, request: consignment_pb2.CreateConsignmentRequest, *, token: str
) -> consignment_pb2.CreateConsignmentResponse:
    async with shipping_service(options) as shipping:
        return await shipping.CreateConsignment(request, metadata=bearer(token))


MAX_PAGE_SIZE = 500
"""The largest page consignment-service gives."""


async def list_consignments(
    options: Options, *, token: str
) -> consignment_pb2.GetConsignmentsResponse:
    """Every page of the caller's consignments, in one reply."""
    everything = consignment_pb2.GetConsignmentsResponse()
    async with shipping_service(options) as shipping:
        request = consignment_pb2.GetConsignmentsRequest(page_size=MAX_PAGE_SIZE)
        while True:
            page = await shipping.GetConsignments(request, metadata=bearer(token))
            everything.consignments.extend(page.consignments)
            if not page.next_page_token:
                return everything
            request.page_token = page.next_page_token
