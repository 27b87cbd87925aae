"""Fixtures for user-service tests: a real PostgreSQL database per test
(`database_url`, from devstack), the repository on it, and the whole service
behind a real gRPC server on a `MemoryStack` (memory registry and broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from micro import Service
from micro.broker import Message
from micro.testing import MemoryStack
from micro.testing.memory import MEMORY
from shippy.user.v1 import user_pb2_grpc
from shippy_kit.postgres import Pool
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
def config(database_url: str) -> Config:
    return Config.from_env(
        {
            "DATABASE_URL": database_url,
            "JWT_SECRET": "a-test-secret-of-at-least-32-characters",
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
