"""The consignments table, against a real PostgreSQL."""

import uuid

import pytest
from consignment_service.repository import (
    Consignment,
    ConsignmentExists,
    ConsignmentRepository,
    Container,
)
from devstack.ports import free_port
from shippy_kit.postgres import DatabaseUnavailable, connection_pool

VESSEL_ID = "5f1c9a5e-0b6b-4f4e-9d0c-6c1f0a2b3c02"


async def store(
    repository: ConsignmentRepository, user_id: str, description: str = "Bananas"
) -> Consignment:
    return await repository.create(
        id=uuid.uuid4(),
        user_id=user_id,
        description=description,
        weight=1_200,
        containers=[Container(id=uuid.uuid4(), customer_id="cust-1", origin="Manchester")],
        vessel_id=VESSEL_ID,
    )


async def test_a_stored_consignment_reads_back_whole(repository: ConsignmentRepository) -> None:
    containers = [
        Container(id=uuid.uuid4(), customer_id="cust-1", origin="Manchester"),
        Container(id=uuid.uuid4(), customer_id="cust-2", origin="Rotterdam"),
    ]

    stored = await repository.create(
        id=uuid.uuid4(),
        user_id="alice",
        description="Bananas and coffee",
        weight=2_500,
        containers=containers,
        vessel_id=VESSEL_ID,
    )

    assert stored.containers == tuple(containers)
    assert stored.created_at.tzinfo is not None
    assert await repository.list_for_user("alice", limit=10) == [stored]


async def test_a_user_lists_only_their_own_consignments_newest_first(
    repository: ConsignmentRepository,
) -> None:
    first = await store(repository, "alice", "first")
    await store(repository, "bob", "bob's")
    second = await store(repository, "alice", "second")

    assert await repository.list_for_user("alice", limit=10) == [second, first]
    assert await repository.list_for_user("carol", limit=10) == []


async def test_a_second_consignment_with_the_same_id_is_refused(
    repository: ConsignmentRepository,
) -> None:
    stored = await store(repository, "alice")

    with pytest.raises(ConsignmentExists, match=str(stored.id)):
        await repository.create(
            id=stored.id,
            user_id="bob",
            description="Apples",
            weight=1,
            containers=stored.containers,
            vessel_id=VESSEL_ID,
        )


async def test_creating_the_schema_again_keeps_the_consignments(
    repository: ConsignmentRepository,
) -> None:
    stored = await store(repository, "alice")

    await repository.create_schema()

    assert await repository.list_for_user("alice", limit=10) == [stored]


async def test_calls_fail_as_unavailable_while_the_database_is_unreachable() -> None:
    nowhere = f"postgresql://shippy@127.0.0.1:{free_port()}/shippy?connect_timeout=1"
    pool = connection_pool(nowhere, timeout=0.2)
    await pool.open(wait=False)
    try:
        with pytest.raises(DatabaseUnavailable):
            await ConsignmentRepository(pool).list_for_user("alice", limit=10)
    finally:
        await pool.close()
