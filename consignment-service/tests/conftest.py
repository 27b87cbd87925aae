"""Fixtures for consignment-service tests.

A real PostgreSQL database per test (`database_url`, from devstack) holds
both the consignments and the vessels. The services are real gRPC servers
that find each other through the in-process registry: consignment-service as
`consignment-service` wires it, vessel-service as `vessel-service` wires it.
No user-service runs: both check tokens with user-service's public keys,
and `users.issue(...)` makes tokens with its private key, as Auth does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from consignment_service.config import Config
from consignment_service.main import build_service
from consignment_service.repository import ConsignmentRepository
from micro import Client, Options, Service
from micro.testing import MemoryStack
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy_kit.postgres import Pool
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import TokenSettings
from vessel_service.config import Config as VesselConfig
from vessel_service.main import build_service as build_vessel_service

IN_PROCESS = Options(registry="memory", broker="memory", server_address="127.0.0.1:0")


@pytest.fixture
async def repository(database_pool: Pool) -> ConsignmentRepository:
    repository = ConsignmentRepository(database_pool)
    await repository.create_schema()
    return repository


class UserTokens:
    """Tokens as user-service's Auth issues them, signed with its key."""

    def __init__(self, mint: TokenMint) -> None:
        self.mint = mint

    def issue(self, user_id: str, roles: Iterable[str] = ()) -> str:
        """A token that authenticates `user_id`."""
        return self.mint.token(user_id, roles=roles)


@pytest.fixture
def users(tmp_path: Path) -> UserTokens:
    return UserTokens(TokenMint.new(tmp_path / "keys"))


@pytest.fixture
def tokens(users: UserTokens) -> TokenSettings:
    """How both services check tokens: with the public keys of `users`' mint."""
    return TokenSettings(public_keys_file=users.mint.public_keys_file)


@pytest.fixture
async def vessel_service(
    database_url: str, memory_stack: MemoryStack, tokens: TokenSettings
) -> Service:
    service = build_vessel_service(
        VesselConfig(database_url=database_url, tokens=tokens), IN_PROCESS, **memory_stack.parts
    )
    await memory_stack.start(service)
    return service


@pytest.fixture
async def consignment_service(
    database_url: str, memory_stack: MemoryStack, tokens: TokenSettings
) -> Service:
    config = Config(database_url=database_url, tokens=tokens)
    service = build_service(config, IN_PROCESS, **memory_stack.parts)
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
