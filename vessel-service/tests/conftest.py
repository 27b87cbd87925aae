"""Fixtures for vessel-service tests: a real PostgreSQL database per test
(`database_url`, from devstack) and the parts built on it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import psycopg_pool
import pytest
from psycopg import sql
from vessel_service.repository import VesselRepository, connection_pool, open_pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[psycopg_pool.AsyncConnectionPool]:
    pool = connection_pool(database_url, max_size=4)
    await open_pool(pool, connect_timeout=10)
    yield pool
    await pool.close()


@pytest.fixture
async def repository(pool: psycopg_pool.AsyncConnectionPool) -> VesselRepository:
    repository = VesselRepository(pool)
    await repository.create_schema()
    return repository


class DatabaseOutage:
    """Takes the test database down and brings it back: while it is down, the
    connections to it are cut and new ones are refused, as in a restart."""

    def __init__(self, postgres_url: str, database_url: str) -> None:
        self._postgres_url = postgres_url
        self._name = str(psycopg.conninfo.conninfo_to_dict(database_url)["dbname"])

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        database = sql.Identifier(self._name)
        async with await psycopg.AsyncConnection.connect(
            self._postgres_url, autocommit=True
        ) as admin:
            await admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database)
            )
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self._name,),
            )
            try:
                yield
            finally:
                await admin.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database)
                )


@pytest.fixture
def database_outage(postgres_url: str, database_url: str) -> DatabaseOutage:
    return DatabaseOutage(postgres_url, database_url)
