"""user-service through a real gRPC server and client, as other services and
the CLI use it: in-process registry and broker, a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import bcrypt
import psycopg
import pytest
from micro.broker import Message
from micro.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from shippy.user.v1 import events_pb2, user_pb2
from user_service.config import Config
from user_service.tokens import Tokens

PASSWORD = "correct horse battery staple"

if TYPE_CHECKING:  # the generated stubs type an aio stub as UserServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users


async def stored_hash(database_url: str) -> str:
    """The password hash of the only user, read straight from the table."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT password_hash FROM users")
        ((password_hash,),) = await cursor.fetchall()
    return str(password_hash)


def ada(**fields: str) -> user_pb2.CreateRequest:
    request = {
        "name": "Ada Lovelace",
        "company": "Analytical Engines",
        "email": "Ada@Example.com",
        "password": PASSWORD,
    }
    return user_pb2.CreateRequest(**{**request, **fields})


async def test_create_returns_the_stored_user_and_no_password(users: Users) -> None:
    reply = await users.Create(ada())

    user = reply.user
    assert user.id
    assert (user.name, user.company, user.email) == (
        "Ada Lovelace",
        "Analytical Engines",
        "ada@example.com",
    )
    assert abs(user.created_at.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert PASSWORD.encode() not in reply.SerializeToString()


async def test_a_created_user_can_be_fetched(users: Users) -> None:
    created = (await users.Create(ada())).user

    fetched = (await users.Get(user_pb2.GetRequest(id=created.id))).user

    assert fetched == created


async def test_get_all_lists_users_oldest_first(users: Users) -> None:
    for n in range(3):
        await users.Create(ada(email=f"user{n}@example.com"))

    reply = await users.GetAll(user_pb2.GetAllRequest())

    assert [user.email for user in reply.users] == [f"user{n}@example.com" for n in range(3)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"company": "x" * 256}, "company"),
        ({"email": "ada.example.com"}, "email"),
        ({"email": "ada@example"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 73}, "password"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    users: Users, fields: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await users.Create(ada(**fields))

    assert raised.value.field == field


async def test_a_refused_user_is_not_stored(users: Users) -> None:
    with pytest.raises(InvalidArgument):
        await users.Create(ada(password="short"))

    assert not (await users.GetAll(user_pb2.GetAllRequest())).users


async def test_an_email_is_taken_whatever_its_case(users: Users) -> None:
    await users.Create(ada(email="ada@example.com"))

    with pytest.raises(AlreadyExists) as raised:
        await users.Create(ada(email="ADA@example.COM", name="Another Ada"))

    assert str(raised.value) == "a user with this email already exists"


async def test_get_needs_a_uuid(users: Users) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await users.Get(user_pb2.GetRequest(id="42"))

    assert raised.value.field == "id"


async def test_get_of_an_unknown_user_is_not_found(users: Users) -> None:
    with pytest.raises(NotFound):
        await users.Get(user_pb2.GetRequest(id="00000000-0000-4000-8000-000000000000"))


async def test_the_password_is_stored_only_as_a_bcrypt_hash(
    users: Users, database_url: str
) -> None:
    await users.Create(ada())

    password_hash = await stored_hash(database_url)

    assert password_hash.startswith("$2b$04$")
    assert bcrypt.checkpw(PASSWORD.encode(), password_hash.encode())


async def test_creating_a_user_publishes_user_created(
    users: Users, events: asyncio.Queue[Message], database_url: str
) -> None:
    user = (await users.Create(ada())).user

    message = await asyncio.wait_for(events.get(), timeout=5)

    event = events_pb2.UserCreated.FromString(message.data)
    assert event.event_id == message.headers["Micro-Id"]
    assert (event.user_id, event.name, event.email, event.company) == (
        user.id,
        user.name,
        user.email,
        user.company,
    )
    assert abs(event.occurred_at.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert PASSWORD.encode() not in message.data
    assert (await stored_hash(database_url)).encode() not in message.data


async def test_auth_gives_a_token_that_validates(users: Users) -> None:
    user = (await users.Create(ada())).user

    auth = await users.Auth(user_pb2.AuthRequest(email="ADA@example.com", password=PASSWORD))
    checked = await users.ValidateToken(user_pb2.ValidateTokenRequest(token=auth.token))

    assert checked.user_id == user.id
    assert checked.expires_at == auth.expires_at
    expires_in = auth.expires_at.ToDatetime(UTC) - datetime.now(UTC)
    assert timedelta(minutes=59) < expires_in <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong password"),
        ("bob@example.com", PASSWORD),
        ("", PASSWORD),
        ("ada@example.com", ""),
    ],
)
async def test_auth_refuses_a_wrong_email_or_password_alike(
    users: Users, email: str, password: str
) -> None:
    await users.Create(ada())

    with pytest.raises(Unauthenticated) as raised:
        await users.Auth(user_pb2.AuthRequest(email=email, password=password))

    assert str(raised.value) == "invalid email or password"


def token(config: Config, **changes: object) -> str:
    """A token as user-service would issue it, with some detail changed."""
    settings: dict[str, object] = {
        "secret": config.jwt_secret,
        "issuer": config.jwt_issuer,
        "ttl": timedelta(seconds=config.jwt_ttl),
        **changes,
    }
    return Tokens(**settings).issue("00000000-0000-4000-8000-000000000000").value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"clock": lambda: datetime.now(UTC) - timedelta(hours=2)}, "token expired"),
        ({"secret": "another-secret-of-at-least-32-characters"}, "invalid token: bad signature"),
        ({"issuer": "someone.else"}, "token was not issued by this service"),
    ],
    ids=["expired", "forged", "wrong issuer"],
)
async def test_validate_token_refuses_a_bad_token(
    users: Users, config: Config, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=token(config, **changes)))

    assert str(raised.value) == message


@pytest.mark.parametrize("value", ["", "not.a.token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"])
async def test_validate_token_refuses_a_missing_or_malformed_token(
    users: Users, value: str
) -> None:
    with pytest.raises(Unauthenticated):
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=value))


async def test_logs_tell_what_happened_but_no_secret(
    users: Users, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    user = (await users.Create(ada())).user
    auth = await users.Auth(user_pb2.AuthRequest(email=user.email, password=PASSWORD))
    with pytest.raises(Unauthenticated):
        await users.Auth(user_pb2.AuthRequest(email=user.email, password="Tr0ub4dor&3"))
    await users.ValidateToken(user_pb2.ValidateTokenRequest(token=auth.token))

    assert f"user created id={user.id}" in caplog.text
    assert f"user authenticated id={user.id}" in caplog.text
    for secret in (PASSWORD, "Tr0ub4dor&3", await stored_hash(database_url), auth.token):
        assert secret not in caplog.text
