"""Requests no handler should see: bytes that are not a valid message, and
text holding a NUL character. Both are INVALID_ARGUMENT naming the field,
before the handler runs, never UNKNOWN or INTERNAL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from micro.server import Server
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc

METHOD = "/shippy.consignment.v1.ShippingService/CreateConsignment"


class Shipping(consignment_pb2_grpc.ShippingServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def CreateConsignment(
        self, request: Any, context: Any
    ) -> consignment_pb2.CreateConsignmentResponse:
        self.calls += 1
        return consignment_pb2.CreateConsignmentResponse()


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, Shipping]]:
    shipping = Shipping()
    server = Server()
    server.handle(consignment_pb2_grpc.add_ShippingServiceServicer_to_server, shipping)
    address = await server.start()
    await server.set_serving(True)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel, shipping
    finally:
        await server.stop(grace=1)


async def call_with_bytes(channel: grpc.aio.Channel, data: bytes) -> grpc.aio.AioRpcError:
    raw = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(data, timeout=5)
    return caught.value


async def test_invalid_utf8_in_a_string_field_is_invalid_argument(
    served: tuple[grpc.aio.Channel, Shipping],
) -> None:
    channel, shipping = served
    description = b"\x0a\x02\xff\xfe"  # field 1 (description), 2 bytes that are not UTF-8

    error = await call_with_bytes(channel, description)

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("request: cannot be read")
    assert shipping.calls == 0


async def test_bytes_that_are_no_message_at_all_are_invalid_argument(
    served: tuple[grpc.aio.Channel, Shipping],
) -> None:
    channel, shipping = served

    error = await call_with_bytes(channel, b"\xff\xff\xff\xff")

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert shipping.calls == 0


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (consignment_pb2.CreateConsignmentRequest(description="tea\x00"), "description"),
        (
            consignment_pb2.CreateConsignmentRequest(
                description="tea",
                containers=[
                    consignment_pb2.Container(origin="Leith"),
                    consignment_pb2.Container(origin="Rotter\x00dam"),
                ],
            ),
            "containers[1].origin",
        ),
    ],
)
async def test_a_nul_character_names_its_field(
    served: tuple[grpc.aio.Channel, Shipping],
    request_: consignment_pb2.CreateConsignmentRequest,
    field: str,
) -> None:
    channel, shipping = served
    stub = consignment_pb2_grpc.ShippingServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateConsignment(request_, timeout=5)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"{field}: must not contain a NUL character"
    assert shipping.calls == 0


async def test_a_clean_request_reaches_the_handler(
    served: tuple[grpc.aio.Channel, Shipping],
) -> None:
    channel, shipping = served
    request = consignment_pb2.CreateConsignmentRequest(
        description="tea", containers=[consignment_pb2.Container(origin="Leith")]
    )

    await consignment_pb2_grpc.ShippingServiceStub(channel).CreateConsignment(request, timeout=5)

    assert shipping.calls == 1
