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
from shippy_kit.auth import bearer

from .helpers import CreateUser, LogIn, Metadata

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


async def test_a_consignment_goes_on_a_vessel_that_fits_it_and_takes_its_room(
    shipping: ShippingServiceAsyncStub,
    vessels: VesselServiceAsyncStub,
    token: str,
    as_operator: Metadata,
) -> None:
    """A vessel of the test's own, just big enough for one load: the first
    consignment takes it, the second goes elsewhere."""
    created = await vessels.Create(
        vessel_pb2.CreateRequest(
            vessel=vessel_pb2.Vessel(name="Snug Fit", capacity=3, max_weight=54_321)
        ),
        metadata=as_operator,
    )
    request = tea_for_rotterdam(containers=3, weight=54_321)

    first = await shipping.CreateConsignment(request, metadata=bearer(token))
    second = await shipping.CreateConsignment(request, metadata=bearer(token))

    assert first.consignment.vessel_id == created.vessel.id
    assert second.consignment.vessel_id not in ("", created.vessel.id)


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
    vessels: VesselServiceAsyncStub, as_operator: Metadata
) -> None:
    no_room = vessel_pb2.Vessel(name="Empty Promise", capacity=0, max_weight=10_000)

    with pytest.raises(InvalidArgument) as refused:
        await vessels.Create(vessel_pb2.CreateRequest(vessel=no_room), metadata=as_operator)

    assert refused.value.field == "vessel.capacity"
