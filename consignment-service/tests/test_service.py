"""ShippingService over gRPC: consignments placed on vessels, each its creator's.

The services are real (see conftest.py); vessel-service starts with its
seeded fleet, whose smallest vessel takes 50 containers and 20 000 kg.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import grpc
import psycopg
import pytest
from consignment_service.validation import MAX_CONTAINERS
from micro.errors import FailedPrecondition, Internal, InvalidArgument, Unavailable
from micro.testing import first_success
from shippy.consignment.v1 import consignment_pb2
from shippy_kit.auth import bearer
from vessel_service.fleet import SEED_FLEET

if TYPE_CHECKING:
    from devstack.postgres import DatabaseOutage
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub

    from conftest import UserTokens

LITTLE_TOOT, BOATY, EVER_GIVEN = SEED_FLEET
LIST = consignment_pb2.GetConsignmentsRequest()


def consignment(
    description: str = "Bananas", weight: int = 1_500, containers: int = 1
) -> consignment_pb2.CreateConsignmentRequest:
    return consignment_pb2.CreateConsignmentRequest(
        description=description,
        weight=weight,
        containers=[
            consignment_pb2.Container(customer_id=f"customer-{i}", origin="Manchester")
            for i in range(containers)
        ],
    )


@pytest.mark.usefixtures("vessel_service")
async def test_a_consignment_goes_on_a_vessel_that_fits_and_belongs_to_the_caller(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")

    reply = await shipping.CreateConsignment(
        consignment("Bananas", weight=15_000, containers=3), metadata=bearer(alice)
    )
    created = reply.consignment

    assert created.vessel_id == str(LITTLE_TOOT.id)
    assert created.user_id == "alice"
    assert (created.description, created.weight) == ("Bananas", 15_000)
    assert [(c.customer_id, c.origin) for c in created.containers] == [
        ("customer-0", "Manchester"),
        ("customer-1", "Manchester"),
        ("customer-2", "Manchester"),
    ]
    assert all(uuid.UUID(c.id) for c in created.containers)
    uuid.UUID(created.id)
    assert created.created_at.seconds > 0


@pytest.mark.usefixtures("vessel_service")
async def test_a_heavier_load_goes_on_a_bigger_vessel(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")

    reply = await shipping.CreateConsignment(
        consignment(weight=150_000, containers=60), metadata=bearer(alice)
    )

    assert reply.consignment.vessel_id == str(BOATY.id)


@pytest.mark.usefixtures("vessel_service")
async def test_each_user_lists_only_their_own_consignments_newest_first(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice, bob = users.issue("alice"), users.issue("bob")
    await shipping.CreateConsignment(consignment("Alice's first"), metadata=bearer(alice))
    await shipping.CreateConsignment(consignment("Bob's"), metadata=bearer(bob))
    await shipping.CreateConsignment(consignment("Alice's second"), metadata=bearer(alice))

    alices = await shipping.GetConsignments(LIST, metadata=bearer(alice))
    bobs = await shipping.GetConsignments(LIST, metadata=bearer(bob))

    assert [c.description for c in alices.consignments] == ["Alice's second", "Alice's first"]
    assert [c.description for c in bobs.consignments] == ["Bob's"]
    assert {c.user_id for c in alices.consignments} == {"alice"}


@pytest.mark.usefixtures("vessel_service")
async def test_a_load_no_vessel_takes_is_a_failed_precondition_and_is_not_stored(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")

    with pytest.raises(FailedPrecondition) as raised:
        await shipping.CreateConsignment(consignment(weight=1_000_000_000), metadata=bearer(alice))

    assert raised.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.message == ("no available vessel fits capacity 1 and weight 1000000000 kg")
    assert not (await shipping.GetConsignments(LIST, metadata=bearer(alice))).consignments


async def test_without_vessel_service_a_consignment_is_unavailable(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")

    with pytest.raises(
        Unavailable, match=re.escape('cannot find a vessel: service "shippy.vessel"')
    ):
        await shipping.CreateConsignment(consignment(), metadata=bearer(alice))


def with_container(**fields: str) -> consignment_pb2.CreateConsignmentRequest:
    request = consignment(containers=3)
    for name, value in fields.items():
        setattr(request.containers[2], name, value)
    return request


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param(consignment(description=""), "description", id="no description"),
        pytest.param(consignment(description="  "), "description", id="blank description"),
        pytest.param(consignment(description="x" * 1001), "description", id="long description"),
        pytest.param(consignment(weight=-1), "weight", id="negative weight"),
        pytest.param(consignment(weight=1_000_000_001), "weight", id="weight over 10^9 kg"),
        pytest.param(consignment(containers=0), "containers", id="no containers"),
        pytest.param(consignment(containers=10_001), "containers", id="10001 containers"),
        pytest.param(with_container(customer_id=""), "containers[2].customer_id", id="no customer"),
        pytest.param(with_container(origin=""), "containers[2].origin", id="no origin"),
        pytest.param(with_container(origin="x" * 256), "containers[2].origin", id="long origin"),
        pytest.param(with_container(id="c-3"), "containers[2].id", id="container id not a UUID"),
    ],
)
async def test_a_bad_consignment_is_an_invalid_argument_naming_the_field(
    shipping: ShippingServiceAsyncStub,
    users: UserTokens,
    request_: consignment_pb2.CreateConsignmentRequest,
    field: str,
) -> None:
    alice = users.issue("alice")

    with pytest.raises(InvalidArgument) as raised:
        await shipping.CreateConsignment(request_, metadata=bearer(alice))

    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.field == field


async def test_while_the_database_is_down_calls_are_unavailable_and_then_work_again(
    shipping: ShippingServiceAsyncStub, users: UserTokens, database_outage: DatabaseOutage
) -> None:
    alice = users.issue("alice")

    async with database_outage():
        with pytest.raises(Unavailable, match="database unavailable"):
            await shipping.GetConsignments(LIST, metadata=bearer(alice))

    reply = await first_success(
        lambda: shipping.GetConsignments(LIST, metadata=bearer(alice)), Unavailable, within=15
    )

    assert list(reply.consignments) == []


@pytest.mark.usefixtures("vessel_service")
async def test_a_vessel_fills_up_and_the_next_load_goes_on_another(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")

    first = await shipping.CreateConsignment(consignment(weight=15_000), metadata=bearer(alice))
    second = await shipping.CreateConsignment(consignment(weight=15_000), metadata=bearer(alice))

    assert first.consignment.vessel_id == str(LITTLE_TOOT.id)  # 5 000 kg of its 20 000 left
    assert second.consignment.vessel_id == str(BOATY.id)


@pytest.mark.usefixtures("vessel_service")
async def test_consignments_come_in_pages_newest_first(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice, bob = users.issue("alice"), users.issue("bob")
    created = [
        (
            await shipping.CreateConsignment(consignment(f"Load {n}"), metadata=bearer(alice))
        ).consignment.id
        for n in range(7)
    ]
    await shipping.CreateConsignment(consignment("Bob's"), metadata=bearer(bob))

    pages, request = [], consignment_pb2.GetConsignmentsRequest(page_size=3)
    while True:
        page = await shipping.GetConsignments(request, metadata=bearer(alice))
        pages.append([c.id for c in page.consignments])
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [id for p in pages for id in p] == created[::-1]


@pytest.mark.usefixtures("vessel_service")
async def test_a_page_ends_before_its_reply_would_pass_the_message_limit(
    shipping: ShippingServiceAsyncStub, users: UserTokens
) -> None:
    alice = users.issue("alice")
    largest = consignment_pb2.CreateConsignmentRequest(
        description="Everything",
        weight=1_000,
        containers=[
            consignment_pb2.Container(customer_id="c" * 255, origin="o" * 255)
            for _ in range(MAX_CONTAINERS)
        ],
    )
    for _ in range(2):
        await shipping.CreateConsignment(largest, metadata=bearer(alice), timeout=30)

    first = await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(page_size=10), metadata=bearer(alice)
    )
    second = await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(page_size=10, page_token=first.next_page_token),
        metadata=bearer(alice),
    )

    assert len(first.consignments) == len(second.consignments) == 1
    assert first.ByteSize() < 4 * 1024 * 1024
    assert second.next_page_token == ""


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (consignment_pb2.GetConsignmentsRequest(page_size=501), "page_size"),
        (consignment_pb2.GetConsignmentsRequest(page_size=-1), "page_size"),
        (consignment_pb2.GetConsignmentsRequest(page_token="not a token"), "page_token"),
    ],
)
async def test_a_bad_page_request_names_its_field(
    shipping: ShippingServiceAsyncStub,
    users: UserTokens,
    request_: consignment_pb2.GetConsignmentsRequest,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await shipping.GetConsignments(request_, metadata=bearer(users.issue("alice")))
    assert caught.value.field == field


async def booked_containers(database_url: str) -> int:
    """Containers booked on the whole fleet, as vessel-service's table has it."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT sum(containers_booked) FROM vessels")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def refuse(database_url: str, table: str, check: str) -> None:
    """From now on, `table` refuses every row that fails `check`: a store that fails."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT refused CHECK ({check}) NOT VALID")


@pytest.mark.usefixtures("vessel_service")
async def test_a_consignment_that_fails_to_store_gives_its_vessel_room_back(
    shipping: ShippingServiceAsyncStub, users: UserTokens, database_url: str
) -> None:
    alice = bearer(users.issue("alice"))
    await shipping.CreateConsignment(consignment(containers=2), metadata=alice)
    before = await booked_containers(database_url)
    await refuse(database_url, "consignments", "false")

    with pytest.raises(Internal):
        await shipping.CreateConsignment(consignment(containers=3), metadata=alice)

    assert await booked_containers(database_url) == before == 2


@pytest.mark.usefixtures("vessel_service")
async def test_when_the_release_fails_too_the_booking_is_logged_and_the_store_error_answered(
    shipping: ShippingServiceAsyncStub,
    users: UserTokens,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = bearer(users.issue("alice"))
    await shipping.CreateConsignment(consignment(containers=1), metadata=alice)
    await refuse(database_url, "consignments", "false")
    await refuse(database_url, "bookings", "released_at IS NULL")

    with pytest.raises(Internal):
        await shipping.CreateConsignment(consignment(containers=3), metadata=alice)

    assert await booked_containers(database_url) == 1 + 3  # the room stays booked ...
    stuck = [r for r in caplog.records if "stays booked" in r.getMessage()]
    assert [r.levelname for r in stuck] == ["ERROR"]  # ... and the log says which booking
    assert str(LITTLE_TOOT.id) in stuck[0].getMessage()
