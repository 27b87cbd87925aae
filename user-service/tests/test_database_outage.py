"""When PostgreSQL goes away, calls fail as UNAVAILABLE; when it is back, the
pool uses it again without a restart. Only the test's own database goes down
(`database_outage`), so that other tests' databases are left alone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import grpc.aio
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from micro import Service
from micro.errors import Unavailable
from micro.testing import eventually, first_success
from shippy.user.v1 import user_pb2
from shippy_kit.postgres import DatabaseUnavailable, connection_pool, open_pool
from user_service.config import Config
from user_service.repository import UserRepository

if TYPE_CHECKING:
    from devstack.postgres import DatabaseOutage
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users

    from conftest import Metadata


async def terminate_other_connections(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def impatient_repository(database_url: str) -> AsyncIterator[UserRepository]:
    """A repository whose calls wait half a second for a connection."""
    pool = connection_pool(database_url, timeout=0.5)
    await open_pool(pool, connect_timeout=10)
    repository = UserRepository(pool)
    await repository.create_schema()
    yield repository
    await pool.close()


@pytest.fixture
def config(config: Config) -> Config:
    """The service of these tests waits half a second for a connection
    before it answers UNAVAILABLE."""
    return dataclasses.replace(config, database_timeout=0.5)


async def test_connections_killed_while_idle_are_replaced_unnoticed(
    repository: UserRepository, database_url: str
) -> None:
    await repository.get_all()

    assert await terminate_other_connections(database_url) >= 1

    assert await repository.get_all() == []


async def test_the_repository_says_unavailable_until_the_database_is_back(
    impatient_repository: UserRepository, database_outage: DatabaseOutage
) -> None:
    await impatient_repository.create(
        name="Ada", company="", email="ada@example.com", password_hash="x"
    )

    async with database_outage():
        with pytest.raises(DatabaseUnavailable):
            await impatient_repository.get_all()

    users = await first_success(impatient_repository.get_all, DatabaseUnavailable, within=15)
    assert [user.email for user in users] == ["ada@example.com"]


async def test_callers_see_unavailable_until_the_database_is_back(
    users: Users, database_outage: DatabaseOutage, as_user: Callable[[str], Metadata]
) -> None:
    request = user_pb2.CreateRequest(name="Ada", email="ada@example.com", password="12345678")
    created = (await users.Create(request)).user
    get = user_pb2.GetRequest(id=created.id)
    metadata = as_user(created.id)

    async with database_outage():
        with pytest.raises(Unavailable) as raised:
            await users.Get(get, metadata=metadata)
        assert str(raised.value) == "database unavailable"

    fetched = await first_success(lambda: users.Get(get, metadata=metadata), Unavailable, within=15)
    assert fetched.user == created


async def test_opening_a_pool_without_a_database_says_unavailable(
    database_url: str, database_outage: DatabaseOutage
) -> None:
    pool = connection_pool(database_url)

    async with database_outage():
        with pytest.raises(DatabaseUnavailable, match=r"^database unavailable$") as caught:
            await open_pool(pool, connect_timeout=0.5)

    assert caught.value.reason == "no connection within 0.5s"


async def test_health_says_not_serving_while_the_database_is_away(
    service: Service, database_outage: DatabaseOutage
) -> None:
    async with grpc.aio.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def status() -> int:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            return int(reply.status)

        async with database_outage():
            await eventually(
                lambda: status_is(status, health_pb2.HealthCheckResponse.NOT_SERVING),
                waiting_for="NOT_SERVING during the outage",
            )
        await eventually(
            lambda: status_is(status, health_pb2.HealthCheckResponse.SERVING),
            waiting_for="SERVING once the database is back",
        )


async def status_is(status: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await status() == expected
