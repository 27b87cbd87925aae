"""The handler on its own, for what the whole service cannot easily show."""

from datetime import timedelta
from typing import Any, cast

import pytest
from micro import Publisher
from micro.broker.memory import MemoryBroker
from shippy.user.v1 import events_pb2, user_pb2
from user_service.handler import UserHandler
from user_service.passwords import PasswordHasher
from user_service.repository import UserRepository
from user_service.tokens import Tokens

NO_CONTEXT = cast(Any, None)  # the handler never uses its gRPC context


async def test_a_user_is_created_even_when_its_event_cannot_be_published(
    repository: UserRepository, caplog: pytest.LogCaptureFixture
) -> None:
    disconnected = MemoryBroker()  # publishing on it fails
    handler = UserHandler(
        repository,
        PasswordHasher(rounds=4),
        Tokens("a-test-secret-of-at-least-32-characters", "shippy.user", ttl=timedelta(hours=1)),
        Publisher("user.created", events_pb2.UserCreated, disconnected),
    )
    request = user_pb2.CreateRequest(name="Ada", email="ada@example.com", password="12345678")

    reply = await handler.Create(request, NO_CONTEXT)

    assert [str(user.id) for user in await repository.get_all()] == [reply.user.id]
    assert f"user.created not published for id={reply.user.id}" in caplog.text
