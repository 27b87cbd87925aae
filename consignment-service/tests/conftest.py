"""Fixtures for consignment-service tests.

A real PostgreSQL database per test (`database_url`, from devstack) holds
both the consignments and the vessels. The services are real gRPC servers
that find each other through the in-process registry: consignment-service as
`consignment-service` wires it, vessel-service as `vessel-service` wires it,
and a small user-service that accepts the tokens it issued and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
import pytest
from consignment_service.config import Config
from consignment_service.main import build_service
from consignment_service.repository import ConsignmentRepository, connection_pool, open_pool
from micro import Client, Options, Service
from micro.errors import Unauthenticated
from psycopg import sql
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from vessel_service.config import Config as VesselConfig
from vessel_service.main import build_service as build_vessel_service

IN_PROCESS = Options(registry="memory", broker="memory", server_address="127.0.0.1:0")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[psycopg_pool.AsyncConnectionPool]:
    pool = connection_pool(database_url, max_size=4)
    await open_pool(pool, connect_timeout=10)
    yield pool
    await pool.close()


@pytest.fixture
async def repository(pool: psycopg_pool.AsyncConnectionPool) -> ConsignmentRepository:
    repository = ConsignmentRepository(pool)
    await repository.create_schema()
    return repository


class FakeUserService(user_pb2_grpc.UserServiceServicer):
    """ValidateToken as user-service answers it, for the tokens `issue` made."""

    def __init__(self) -> None:
        self._users: dict[str, str] = {}

    def issue(self, user_id: str) -> str:
        """A token that authenticates `user_id`."""
        token = f"token-of-{user_id}-{uuid.uuid4()}"
        self._users[token] = user_id
        return token

    async def ValidateToken(
        self, request: user_pb2.ValidateTokenRequest, context: Any
    ) -> user_pb2.ValidateTokenResponse:
        user_id = self._users.get(request.token)
        if user_id is None:
            raise Unauthenticated("token is invalid or has expired")
        return user_pb2.ValidateTokenResponse(user_id=user_id)


@pytest.fixture
async def users() -> AsyncIterator[FakeUserService]:
    users = FakeUserService()
    service = Service("shippy.user", options=IN_PROCESS)
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, users)
    await service.start()
    yield users
    await service.stop()


@pytest.fixture
async def vessel_service(database_url: str) -> AsyncIterator[Service]:
    service = build_vessel_service(VesselConfig(database_url=database_url), IN_PROCESS)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def consignment_service(database_url: str) -> AsyncIterator[Service]:
    service = build_service(Config(database_url=database_url), IN_PROCESS)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client.connect(IN_PROCESS) as client:
        yield client


@pytest.fixture
def shipping(
    consignment_service: Service, client: Client
) -> consignment_pb2_grpc.ShippingServiceAsyncStub:
    return client.stub(consignment_pb2_grpc.ShippingServiceStub, "shippy.consignment")


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
