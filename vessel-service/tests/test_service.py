"""VesselService over gRPC: the service as `vessel-service` wires it, on a real
PostgreSQL, called by name through the (in-process) registry.

`vessels` calls as an operator; `raw_vessels` sends what each test says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest
from micro import Client, Options, Service
from micro.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from micro.testing import first_success
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import TokenSettings
from vessel_service.config import Config
from vessel_service.fleet import SEED_FLEET
from vessel_service.main import build_service

if TYPE_CHECKING:
    from devstack.postgres import DatabaseOutage

IN_PROCESS = Options(registry="memory", broker="memory", server_address="127.0.0.1:0")
LITTLE_TOOT, BOATY, EVER_GIVEN = SEED_FLEET
OPERATOR_ID = "operator-1"
Stub: TypeAlias = "vessel_pb2_grpc.VesselServiceAsyncStub"  # in the type stubs only


@pytest.fixture
def mint(tmp_path: Path) -> TokenMint:
    """user-service's key pair: its public keys are what the service reads."""
    return TokenMint.new(tmp_path / "keys")


@pytest.fixture
async def service(database_url: str, mint: TokenMint) -> AsyncIterator[Service]:
    tokens = TokenSettings(public_keys_file=mint.public_keys_file)
    service = build_service(Config(database_url=database_url, tokens=tokens), IN_PROCESS)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def raw_vessels(service: Service) -> AsyncIterator[Stub]:
    async with Client.connect(IN_PROCESS, registry=service.registry) as client:
        yield client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")


class AsCaller:
    """A stub whose calls carry `token`."""

    def __init__(self, stub: Stub, token: str) -> None:
        self._stub, self._metadata = stub, bearer(token)

    async def FindAvailable(self, request: Any) -> vessel_pb2.FindAvailableResponse:
        return await self._stub.FindAvailable(request, metadata=self._metadata)

    async def Create(self, request: Any) -> vessel_pb2.CreateResponse:
        return await self._stub.Create(request, metadata=self._metadata)

    async def Release(self, request: Any) -> vessel_pb2.ReleaseResponse:
        return await self._stub.Release(request, metadata=self._metadata)


@pytest.fixture
def vessels(raw_vessels: Stub, mint: TokenMint) -> Stub:
    """Calls as an operator."""
    operator = mint.token(OPERATOR_ID, roles=["operator"])
    return AsCaller(raw_vessels, operator)  # type: ignore[return-value]


def find_request(capacity: int, max_weight: int) -> vessel_pb2.FindAvailableRequest:
    spec = vessel_pb2.Specification(capacity=capacity, max_weight=max_weight)
    return vessel_pb2.FindAvailableRequest(specification=spec)


async def test_the_seeded_fleet_is_there_from_the_start(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
) -> None:
    reply = await vessels.FindAvailable(find_request(capacity=300, max_weight=150_000))

    assert reply.vessel == vessel_pb2.Vessel(
        id=str(BOATY.id),
        name="Boaty McBoatface",
        capacity=500,
        max_weight=200_000,
        available=True,
    )


async def test_no_vessel_fits_is_a_failed_precondition(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
) -> None:
    with pytest.raises(
        FailedPrecondition,
        match="no available vessel fits capacity 30000 and weight 1000 kg",
    ):
        await vessels.FindAvailable(find_request(capacity=30_000, max_weight=1_000))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param(vessel_pb2.FindAvailableRequest(), "specification", id="no specification"),
        pytest.param(
            find_request(capacity=-1, max_weight=1),
            "specification.capacity",
            id="capacity=-1, max_weight=1",
        ),
        pytest.param(
            find_request(capacity=100_001, max_weight=1),
            "specification.capacity",
            id="capacity=100_001, max_weight=1",
        ),
        pytest.param(
            find_request(capacity=1, max_weight=-1),
            "specification.max_weight",
            id="capacity=1, max_weight=-1",
        ),
        pytest.param(
            find_request(capacity=1, max_weight=1_000_000_001),
            "specification.max_weight",
            id="capacity=1, max_weight=1_000_000_001",
        ),
    ],
)
async def test_a_bad_specification_is_an_invalid_argument(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
    request_: vessel_pb2.FindAvailableRequest,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await vessels.FindAvailable(request_)

    assert raised.value.field == field


async def test_a_created_vessel_is_found_when_it_fits_best(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
) -> None:
    reply = await vessels.Create(
        vessel_pb2.CreateRequest(
            vessel=vessel_pb2.Vessel(name="  Tugboat  ", capacity=5, max_weight=2_000)
        )
    )
    created = reply.vessel

    found = await vessels.FindAvailable(find_request(capacity=5, max_weight=1_000))

    assert created.id  # a UUID the service made
    assert (created.name, created.available, created.owner_id) == ("Tugboat", True, OPERATOR_ID)
    assert found.vessel == created


async def test_a_vessel_keeps_the_id_it_is_created_with(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
) -> None:
    vessel = vessel_pb2.Vessel(
        id="0b7e6f3e-8f5a-4a57-a1b4-7d6cbd0c9a11", name="Pinta", capacity=9, max_weight=9
    )

    reply = await vessels.Create(vessel_pb2.CreateRequest(vessel=vessel))

    assert reply.vessel.id == vessel.id


async def test_creating_a_vessel_with_a_taken_id_is_refused(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
) -> None:
    namesake = vessel_pb2.Vessel(id=str(BOATY.id), name="Boaty II", capacity=1, max_weight=1)

    with pytest.raises(AlreadyExists, match=str(BOATY.id)):
        await vessels.Create(vessel_pb2.CreateRequest(vessel=namesake))


def a_vessel(**fields: object) -> vessel_pb2.CreateRequest:
    vessel = vessel_pb2.Vessel(name="Nina", capacity=10, max_weight=1_000)
    for name, value in fields.items():
        setattr(vessel, name, value)
    return vessel_pb2.CreateRequest(vessel=vessel)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param(vessel_pb2.CreateRequest(), "vessel", id="no vessel"),
        pytest.param(a_vessel(id="not-a-uuid"), "vessel.id", id="id='not-a-uuid'"),
        pytest.param(a_vessel(name=""), "vessel.name", id="name=''"),
        pytest.param(a_vessel(name="   "), "vessel.name", id="name='   '"),
        pytest.param(a_vessel(name="x" * 256), "vessel.name", id="name=256 characters"),
        pytest.param(a_vessel(capacity=0), "vessel.capacity", id="capacity=0"),
        pytest.param(a_vessel(capacity=100_001), "vessel.capacity", id="capacity=100_001"),
        pytest.param(a_vessel(max_weight=0), "vessel.max_weight", id="max_weight=0"),
        pytest.param(
            a_vessel(max_weight=1_000_000_001), "vessel.max_weight", id="max_weight=1_000_000_001"
        ),
        pytest.param(a_vessel(owner_id="x" * 256), "vessel.owner_id", id="owner_id=256 characters"),
    ],
)
async def test_a_bad_vessel_is_an_invalid_argument(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub,
    request_: vessel_pb2.CreateRequest,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await vessels.Create(request_)

    assert raised.value.field == field


async def test_while_the_database_is_down_calls_are_unavailable_and_then_work_again(
    vessels: vessel_pb2_grpc.VesselServiceAsyncStub, database_outage: DatabaseOutage
) -> None:
    request = find_request(capacity=1, max_weight=1)

    async with database_outage():
        with pytest.raises(Unavailable, match="database unavailable"):
            await vessels.FindAvailable(request)

    reply = await first_success(lambda: vessels.FindAvailable(request), Unavailable, within=15)

    assert reply.vessel.id == str(LITTLE_TOOT.id)


async def test_every_call_needs_a_token(raw_vessels: Stub) -> None:
    with pytest.raises(Unauthenticated, match="missing authorization metadata"):
        await raw_vessels.FindAvailable(find_request(capacity=1, max_weight=1))
    with pytest.raises(Unauthenticated, match="invalid token"):
        await raw_vessels.Create(a_vessel(), metadata=bearer("attacker-made-this-up"))


@pytest.mark.parametrize("roles", [[], ["user"]], ids=["no role", "another role"])
async def test_creating_a_vessel_without_the_operator_role_is_permission_denied(
    raw_vessels: Stub, mint: TokenMint, roles: list[str]
) -> None:
    token = mint.token("user-1", roles=roles)

    with pytest.raises(PermissionDenied, match="needs the role operator or admin"):
        await raw_vessels.Create(a_vessel(capacity=1, max_weight=1), metadata=bearer(token))

    found = await raw_vessels.FindAvailable(find_request(1, 1), metadata=bearer(token))
    assert found.vessel.id == str(LITTLE_TOOT.id)  # the tiny vessel was not made


async def test_an_operator_creates_vessels_for_themselves_only(
    vessels: Stub, raw_vessels: Stub, mint: TokenMint
) -> None:
    with pytest.raises(PermissionDenied, match="only an admin"):
        await vessels.Create(a_vessel(owner_id="someone-else"))

    admin = bearer(mint.token("admin-1", roles=["admin"]))
    reply = await raw_vessels.Create(a_vessel(owner_id="someone-else"), metadata=admin)

    assert reply.vessel.owner_id == "someone-else"


async def test_booked_loads_use_up_a_vessel_until_it_is_no_longer_found(
    vessels: Stub,
) -> None:
    created = (await vessels.Create(a_vessel(name="Dinghy", capacity=3, max_weight=300))).vessel
    load = find_request(capacity=2, max_weight=100)

    first = await vessels.FindAvailable(load)
    second = await vessels.FindAvailable(load)

    assert first.vessel.id == created.id
    assert second.vessel.id != created.id  # one container of room left on the dinghy
    assert second.vessel.id == str(LITTLE_TOOT.id)


async def test_a_released_booking_gives_its_room_back_to_the_next_load(vessels: Stub) -> None:
    created = (await vessels.Create(a_vessel(name="Skiff", capacity=2, max_weight=200))).vessel
    load = find_request(capacity=2, max_weight=100)
    booked = await vessels.FindAvailable(load)
    assert booked.vessel.id == created.id

    released = await vessels.Release(vessel_pb2.ReleaseRequest(booking_id=booked.booking_id))
    again = await vessels.Release(vessel_pb2.ReleaseRequest(booking_id=booked.booking_id))
    next_load = await vessels.FindAvailable(load)

    assert released.vessel.id == created.id
    assert again.vessel == released.vessel  # released once, not twice
    assert next_load.vessel.id == created.id  # the skiff has its room again


async def test_only_who_booked_or_an_admin_may_release(
    vessels: Stub, raw_vessels: Stub, mint: TokenMint
) -> None:
    booked = await vessels.FindAvailable(find_request(capacity=1, max_weight=1))
    release = vessel_pb2.ReleaseRequest(booking_id=booked.booking_id)

    with pytest.raises(PermissionDenied, match="only who booked it"):
        await raw_vessels.Release(release, metadata=bearer(mint.token("someone-else")))
    admin = bearer(mint.token("admin-1", roles=["admin"]))
    reply = await raw_vessels.Release(release, metadata=admin)

    assert reply.vessel.id == booked.vessel.id


@pytest.mark.parametrize(
    ("booking_id", "error", "message"),
    [
        ("", InvalidArgument, "booking_id: is required"),
        ("not-a-uuid", InvalidArgument, "booking_id: must be a UUID"),
        ("6f1c1b9e-0000-4000-8000-000000000000", NotFound, "not found"),
    ],
)
async def test_releasing_no_booking_of_ours_says_why(
    vessels: Stub, booking_id: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await vessels.Release(vessel_pb2.ReleaseRequest(booking_id=booking_id))
