"""Fixtures for user-service tests: a real PostgreSQL database per test
(`database_url`, from devstack), the repository on it, the service's signing
key (`mint`, which also makes tokens of that key for the tests), and the whole
service behind a real gRPC server on a `MemoryStack` (memory registry and broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from micro import Service
from micro.broker import Message
from micro.testing import MemoryStack
from micro.testing.memory import MEMORY
from shippy.user.v1 import user_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.postgres import Pool
from shippy_kit.token_mint import TokenMint
from user_service.config import Config
from user_service.main import build_service
from user_service.repository import UserRepository

if TYPE_CHECKING:  # the generated stubs type an aio stub as UserServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users


@pytest.fixture
async def repository(database_pool: Pool) -> UserRepository:
    repository = UserRepository(database_pool)
    await repository.create_schema()
    return repository


@pytest.fixture
def mint(tmp_path: Path) -> TokenMint:
    """user-service's key pair, and tokens made with it."""
    return TokenMint.new(tmp_path / "keys")


Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
def as_user(mint: TokenMint) -> Callable[..., Metadata]:
    """`as_user(user_id, roles=["admin"])`: call metadata with a token for
    `user_id` signed with the service's key, as Auth would issue it."""

    def metadata(user_id: str, roles: Iterable[str] = ()) -> Metadata:
        return bearer(mint.token(user_id, roles=roles))

    return metadata


@pytest.fixture
def config(database_url: str, mint: TokenMint) -> Config:
    return Config.from_env(
        {
            "DATABASE_URL": database_url,
            "JWT_PRIVATE_KEY_FILE": str(mint.private_key_file),
            "JWT_PUBLIC_KEYS_FILE": str(mint.public_keys_file),
            "BCRYPT_ROUNDS": "4",  # the least bcrypt allows: fast tests
        }
    )


@pytest.fixture
async def service(config: Config, memory_stack: MemoryStack) -> Service:
    service = build_service(config, MEMORY, **memory_stack.parts)
    await memory_stack.start(service)
    return service


@pytest.fixture
def users(service: Service, memory_stack: MemoryStack) -> Users:
    """A client stub that finds shippy.user by name, as other services do."""
    return memory_stack.client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")


@pytest.fixture
async def events(service: Service) -> AsyncIterator[asyncio.Queue[Message]]:
    """Every message published on user.created while the test runs."""
    queue: asyncio.Queue[Message] = asyncio.Queue()
    subscription = await service.broker.subscribe("user.created", queue.put)
    yield queue
    await subscription.unsubscribe()
