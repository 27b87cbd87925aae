"""The handler on its own: a user and its UserCreated event are stored together."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

import psycopg
import pytest
from micro import Publisher
from micro.errors import AlreadyExists
from micro.pubsub import MICRO_ID
from nacl.signing import SigningKey
from shippy.user.v1 import events_pb2, user_pb2
from shippy_kit.outbox import PostgresOutbox
from shippy_kit.postgres import Pool
from shippy_kit.tokens import TokenVerifier, key_id
from user_service.config import Config
from user_service.handler import UserHandler
from user_service.limits import LoginLimits
from user_service.passwords import PasswordHasher
from user_service.repository import UserRepository
from user_service.tokens import Tokens

NO_CONTEXT = cast(Any, None)  # the handler never uses its gRPC context
REQUEST = user_pb2.CreateRequest(name="Ada", email="ada@example.com", password="12345678")


def handler_on(repository: UserRepository, destination: Any) -> UserHandler:
    key = SigningKey.generate()
    verifier = TokenVerifier({key_id(key.verify_key): key.verify_key})
    return UserHandler(
        repository,
        PasswordHasher(rounds=4),
        Tokens(key, verifier, ttl=timedelta(hours=1)),
        Publisher("user.created", events_pb2.UserCreated, destination),
        LoginLimits(Config.auth_per_email, Config.auth_per_address),
    )


@pytest.fixture
async def outbox(database_pool: Pool, repository: UserRepository) -> PostgresOutbox:
    outbox = PostgresOutbox(database_pool)
    await outbox.create_schema()
    return outbox


async def outbox_rows(database_url: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT id, topic, data, headers FROM micro_outbox")
        return [(i, t, bytes(d), h) for i, t, d, h in await cursor.fetchall()]


async def test_a_created_user_and_its_event_are_stored_together(
    repository: UserRepository, outbox: PostgresOutbox, database_url: str
) -> None:
    reply = await handler_on(repository, outbox).Create(REQUEST, NO_CONTEXT)

    [(event_id, topic, data, headers)] = await outbox_rows(database_url)
    event = events_pb2.UserCreated.FromString(data)
    assert topic == "user.created"
    assert event.user_id == reply.user.id
    assert event.email == "ada@example.com"
    assert event_id == event.event_id == headers[MICRO_ID]
    assert await outbox.pending() == 1  # sent by the relay, not by the handler


class BrokenOutbox:
    async def publish(self, topic: str, data: bytes, headers: Mapping[str, str]) -> None:
        raise RuntimeError("the outbox is broken")


async def test_a_user_whose_event_cannot_be_stored_is_not_stored_either(
    repository: UserRepository,
) -> None:
    with pytest.raises(RuntimeError, match="the outbox is broken"):
        await handler_on(repository, BrokenOutbox()).Create(REQUEST, NO_CONTEXT)

    assert await repository.get_all() == []


async def test_a_duplicate_email_stores_no_event(
    repository: UserRepository, outbox: PostgresOutbox, database_url: str
) -> None:
    handler = handler_on(repository, outbox)
    await handler.Create(REQUEST, NO_CONTEXT)

    with pytest.raises(AlreadyExists):
        await handler.Create(REQUEST, NO_CONTEXT)

    assert len(await outbox_rows(database_url)) == 1
