"""Fixtures for consignment-service tests.

A real PostgreSQL database per test (`database_url`, from devstack) holds
both the consignments and the vessels. The services are real gRPC servers
that find each other through the in-process registry: consignment-service as
`consignment-service` wires it, vessel-service as `vessel-service` wires it,
and a small user-service that accepts the tokens it issued and nothing else.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from consignment_service.config import Config
from consignment_service.main import build_service
from consignment_service.repository import ConsignmentRepository
from micro import Client, Options, Service
from micro.errors import Unauthenticated
from micro.testing import MemoryStack
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy_kit.postgres import Pool
from vessel_service.config import Config as VesselConfig
from vessel_service.main import build_service as build_vessel_service

IN_PROCESS = Options(registry="memory", broker="memory", server_address="127.0.0.1:0")


@pytest.fixture
async def repository(database_pool: Pool) -> ConsignmentRepository:
    repository = ConsignmentRepository(database_pool)
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
async def users(memory_stack: MemoryStack) -> FakeUserService:
    users = FakeUserService()
    service = memory_stack.service("shippy.user")
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, users)
    await memory_stack.start(service)
    return users


@pytest.fixture
async def vessel_service(database_url: str, memory_stack: MemoryStack) -> Service:
    service = build_vessel_service(
        VesselConfig(database_url=database_url), IN_PROCESS, **memory_stack.parts
    )
    await memory_stack.start(service)
    return service


@pytest.fixture
async def consignment_service(database_url: str, memory_stack: MemoryStack) -> Service:
    service = build_service(Config(database_url=database_url), IN_PROCESS, **memory_stack.parts)
    await memory_stack.start(service)
    return service


@pytest.fixture
def client(memory_stack: MemoryStack) -> Client:
    return memory_stack.client


@pytest.fixture
def shipping(
    consignment_service: Service, client: Client
) -> consignment_pb2_grpc.ShippingServiceAsyncStub:
    return client.stub(consignment_pb2_grpc.ShippingServiceStub, "shippy.consignment")
