"""The vessels table, against a real PostgreSQL."""

import asyncio
import dataclasses
import uuid

import psycopg
import pytest
from devstack.ports import free_port
from shippy_kit.postgres import DatabaseUnavailable, connection_pool, open_pool
from vessel_service.fleet import SEED_FLEET
from vessel_service.repository import (
    Booking,
    Vessel,
    VesselExists,
    VesselRepository,
)

LITTLE_TOOT, BOATY, EVER_GIVEN = SEED_FLEET


def a_vessel(capacity: int = 10, max_weight: int = 5_000, **fields: object) -> Vessel:
    return Vessel(
        id=uuid.uuid4(), name="Test Vessel", capacity=capacity, max_weight=max_weight, **fields
    )


async def test_seeding_adds_the_fleet_once(repository: VesselRepository) -> None:
    assert await repository.seed(SEED_FLEET) == len(SEED_FLEET)
    assert await repository.seed(SEED_FLEET) == 0

    for vessel in SEED_FLEET:
        assert await repository.get(vessel.id) == vessel


async def test_creating_the_schema_again_keeps_the_vessels(repository: VesselRepository) -> None:
    await repository.seed(SEED_FLEET)

    await repository.create_schema()

    assert await repository.get(BOATY.id) == BOATY


@pytest.mark.parametrize(
    ("capacity", "max_weight", "expected"),
    [
        pytest.param(0, 0, LITTLE_TOOT, id="nothing"),
        pytest.param(50, 20_000, LITTLE_TOOT, id="a vessel's own limits"),
        pytest.param(51, 1, BOATY, id="one container too many"),
        pytest.param(1, 20_001, BOATY, id="one kg too heavy"),
        pytest.param(500, 200_000, BOATY, id="Boaty's limits"),
        pytest.param(501, 1, EVER_GIVEN, id="more containers than Boaty takes"),
        pytest.param(1, 200_001, EVER_GIVEN, id="heavier than Boaty takes"),
    ],
)
async def test_find_available_picks_the_smallest_vessel_that_fits(
    repository: VesselRepository, capacity: int, max_weight: int, expected: Vessel
) -> None:
    await repository.seed(SEED_FLEET)

    found = await repository.find_available(capacity=capacity, max_weight=max_weight)

    assert found == expected


async def test_find_available_is_none_when_nothing_fits(repository: VesselRepository) -> None:
    await repository.seed(SEED_FLEET)

    assert await repository.find_available(capacity=20_001, max_weight=1) is None
    assert await repository.find_available(capacity=1, max_weight=200_000_001) is None


async def test_find_available_skips_vessels_that_are_not_available(
    repository: VesselRepository,
) -> None:
    busy = await repository.create(a_vessel(capacity=10, available=False))
    free = await repository.create(a_vessel(capacity=20))

    found = await repository.find_available(capacity=5, max_weight=1)

    assert found is not None
    assert found.id == free.id != busy.id


async def test_a_booking_takes_room_and_a_full_vessel_is_not_found(
    repository: VesselRepository,
) -> None:
    vessel = await repository.create(a_vessel(capacity=10, max_weight=1_000))

    booked = await repository.book(capacity=6, max_weight=600, booked_by="user-1")
    left_for_four = await repository.find_available(capacity=4, max_weight=400)
    none_for_five = await repository.find_available(capacity=5, max_weight=1)

    assert booked is not None
    assert booked[0] == dataclasses.replace(vessel, containers_booked=6, weight_booked=600)
    assert booked[1] == Booking(booked[1].id, vessel.id, 6, 600, "user-1")
    assert left_for_four is not None
    assert left_for_four.id == vessel.id
    assert none_for_five is None


async def test_concurrent_bookings_never_overfill_a_vessel(repository: VesselRepository) -> None:
    vessel = await repository.create(a_vessel(capacity=5, max_weight=5_000))

    booked = await asyncio.gather(
        *(repository.book(capacity=1, max_weight=1, booked_by="u") for _ in range(8))
    )

    assert sum(1 for b in booked if b is not None and b[0].id == vessel.id) == 5
    assert sum(1 for b in booked if b is None) == 3
    stored = await repository.get(vessel.id)
    assert stored is not None
    assert stored.containers_booked == 5


async def test_a_release_gives_back_what_its_booking_took_once(
    repository: VesselRepository,
) -> None:
    vessel = await repository.create(a_vessel(capacity=10, max_weight=1_000))
    kept = await repository.book(capacity=3, max_weight=300, booked_by="user-1")
    booked = await repository.book(capacity=6, max_weight=600, booked_by="user-1")
    assert kept is not None
    assert booked is not None

    released = await repository.release(booked[1].id)
    again = await repository.release(booked[1].id)

    after = dataclasses.replace(vessel, containers_booked=3, weight_booked=300)
    assert released == after
    assert again == after  # released before: nothing more given back
    stored = await repository.booking(booked[1].id)
    assert stored is not None
    assert stored.released


async def test_releasing_an_unknown_booking_is_none(repository: VesselRepository) -> None:
    assert await repository.release(uuid.uuid4()) is None
    assert await repository.booking(uuid.uuid4()) is None


async def test_created_vessels_are_stored_as_given(repository: VesselRepository) -> None:
    vessel = a_vessel(owner_id="owner-1")

    await repository.create(vessel)

    assert await repository.get(vessel.id) == vessel


async def test_a_second_vessel_with_the_same_id_is_refused(repository: VesselRepository) -> None:
    vessel = await repository.create(a_vessel())

    namesake = dataclasses.replace(a_vessel(), id=vessel.id, name="Another Vessel")

    with pytest.raises(VesselExists, match=str(vessel.id)):
        await repository.create(namesake)


async def test_connections_the_database_dropped_are_replaced(
    repository: VesselRepository, database_url: str
) -> None:
    await repository.seed(SEED_FLEET)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    assert await repository.get(BOATY.id) == BOATY


def unreachable_database_url() -> str:
    return f"postgresql://shippy@127.0.0.1:{free_port()}/shippy?connect_timeout=1"


async def test_opening_the_pool_fails_when_the_database_is_unreachable() -> None:
    pool = connection_pool(unreachable_database_url())

    with pytest.raises(DatabaseUnavailable, match=r"^database unavailable$") as caught:
        await open_pool(pool, connect_timeout=0.2)

    assert caught.value.reason == "no connection within 0.2s"


async def test_calls_fail_as_unavailable_while_the_database_is_unreachable() -> None:
    pool = connection_pool(unreachable_database_url(), timeout=0.2)
    await pool.open(wait=False)
    try:
        with pytest.raises(DatabaseUnavailable):
            await VesselRepository(pool).find_available(capacity=1, max_weight=1)
    finally:
        await pool.close()
