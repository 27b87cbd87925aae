"""consignment-service and vessel-service through the micro client: a consignment
goes on a vessel that fits, only its owner sees it, and bad input is refused
with the field at fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from micro.errors import InvalidArgument
from shippy.consignment.v1 import consignment_pb2
from shippy.vessel.v1 import vessel_pb2
from shippy_kit.cli import bearer

from .helpers import CreateUser, LogIn

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub


def tea_for_rotterdam(
    containers: int = 2, weight: int = 12_000
) -> consignment_pb2.CreateConsignmentRequest:
    return consignment_pb2.CreateConsignmentRequest(
        description="Tea for Rotterdam",
        weight=weight,
        containers=[
            consignment_pb2.Container(customer_id=f"cust{i:03}", origin="Colombo")
            for i in range(containers)
        ],
    )


async def test_a_consignment_goes_on_the_vessel_that_fits_it(
    shipping: ShippingServiceAsyncStub, vessels: VesselServiceAsyncStub, token: str
) -> None:
    request = tea_for_rotterdam(containers=3, weight=55_000)

    created = await shipping.CreateConsignment(request, metadata=bearer(token))

    fitting = await vessels.FindAvailable(
        vessel_pb2.FindAvailableRequest(
            specification=vessel_pb2.Specification(capacity=3, max_weight=55_000)
        )
    )
    assert created.consignment.vessel_id == fitting.vessel.id
    assert fitting.vessel.capacity >= 3
    assert fitting.vessel.max_weight >= 55_000


async def test_a_consignment_is_listed_for_its_owner_only(
    shipping: ShippingServiceAsyncStub, create_user: CreateUser, log_in: LogIn
) -> None:
    alice = await log_in(await create_user(name="Alice"))
    bob = await log_in(await create_user(name="Bob"))

    alices = await shipping.CreateConsignment(tea_for_rotterdam(), metadata=bearer(alice))

    everything = consignment_pb2.GetConsignmentsRequest()
    seen_by_alice = await shipping.GetConsignments(everything, metadata=bearer(alice))
    seen_by_bob = await shipping.GetConsignments(everything, metadata=bearer(bob))
    assert [c.id for c in seen_by_alice.consignments] == [alices.consignment.id]
    assert list(seen_by_bob.consignments) == []


def without_description(request: consignment_pb2.CreateConsignmentRequest) -> None:
    request.description = ""


def with_negative_weight(request: consignment_pb2.CreateConsignmentRequest) -> None:
    request.weight = -1


def without_containers(request: consignment_pb2.CreateConsignmentRequest) -> None:
    del request.containers[:]


def with_a_container_without_origin(request: consignment_pb2.CreateConsignmentRequest) -> None:
    request.containers[1].origin = ""


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        pytest.param(without_description, "description", id="no description"),
        pytest.param(with_negative_weight, "weight", id="negative weight"),
        pytest.param(without_containers, "containers", id="no containers"),
        pytest.param(with_a_container_without_origin, "containers[1].origin", id="no origin"),
    ],
)
async def test_a_bad_consignment_is_refused_naming_the_field(
    shipping: ShippingServiceAsyncStub,
    token: str,
    spoil: Callable[[consignment_pb2.CreateConsignmentRequest], None],
    field: str,
) -> None:
    request = tea_for_rotterdam(containers=2)
    spoil(request)

    with pytest.raises(InvalidArgument) as refused:
        await shipping.CreateConsignment(request, metadata=bearer(token))

    assert refused.value.field == field


async def test_a_vessel_needs_room_for_at_least_one_container(
    vessels: VesselServiceAsyncStub,
) -> None:
    no_room = vessel_pb2.Vessel(name="Empty Promise", capacity=0, max_weight=10_000)

    with pytest.raises(InvalidArgument) as refused:
        await vessels.Create(vessel_pb2.CreateRequest(vessel=no_room))

    assert refused.value.field == "vessel.capacity"
