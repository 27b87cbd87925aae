"""user-service through a real gRPC server and client, as other services and
the CLI use it: in-process registry and broker, a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import bcrypt
import psycopg
import pytest
from micro.broker import Message
from micro.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from shippy.user.v1 import events_pb2, user_pb2
from shippy_kit.auth import bearer
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import TokenVerifier
from user_service.repository import UserRepository

PASSWORD = "correct horse battery staple"
NOBODY = "00000000-0000-4000-8000-000000000000"
ADMIN = ["admin"]

if TYPE_CHECKING:  # the generated stubs type an aio stub as UserServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users

    from conftest import Metadata

AsUser = Callable[..., "Metadata"]


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


async def test_a_user_can_fetch_themselves(users: Users, as_user: AsUser) -> None:
    created = (await users.Create(ada())).user

    fetched = (
        await users.Get(user_pb2.GetRequest(id=created.id), metadata=as_user(created.id))
    ).user

    assert fetched == created


async def test_get_and_get_all_need_a_token(users: Users) -> None:
    created = (await users.Create(ada())).user

    with pytest.raises(Unauthenticated, match="missing authorization metadata"):
        await users.Get(user_pb2.GetRequest(id=created.id))
    with pytest.raises(Unauthenticated, match="missing authorization metadata"):
        await users.GetAll(user_pb2.GetAllRequest())
    with pytest.raises(Unauthenticated, match="invalid token"):
        await users.GetAll(user_pb2.GetAllRequest(), metadata=bearer("attacker-made-this-up"))


async def test_another_users_record_is_permission_denied(users: Users, as_user: AsUser) -> None:
    ada_user = (await users.Create(ada())).user
    bob = (await users.Create(ada(email="bob@example.com", name="Bob"))).user

    with pytest.raises(PermissionDenied, match="a user may get only themselves"):
        await users.Get(user_pb2.GetRequest(id=ada_user.id), metadata=as_user(bob.id))
    with pytest.raises(PermissionDenied, match="a user may get only themselves"):
        await users.Get(user_pb2.GetRequest(id=NOBODY), metadata=as_user(bob.id))


async def test_an_admin_gets_anyone(users: Users, as_user: AsUser) -> None:
    created = (await users.Create(ada())).user

    fetched = await users.Get(user_pb2.GetRequest(id=created.id), metadata=as_user(NOBODY, ADMIN))

    assert fetched.user == created


async def test_get_all_is_for_admins_only(users: Users, as_user: AsUser) -> None:
    user = (await users.Create(ada())).user

    for roles in ([], ["operator"]):
        with pytest.raises(PermissionDenied, match="needs the role admin"):
            await users.GetAll(user_pb2.GetAllRequest(), metadata=as_user(user.id, roles))


async def test_get_all_lists_users_oldest_first(users: Users, as_user: AsUser) -> None:
    for n in range(3):
        await users.Create(ada(email=f"user{n}@example.com"))

    reply = await users.GetAll(user_pb2.GetAllRequest(), metadata=as_user(NOBODY, ADMIN))

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


async def test_a_refused_user_is_not_stored(users: Users, as_user: AsUser) -> None:
    with pytest.raises(InvalidArgument):
        await users.Create(ada(password="short"))

    assert not (await users.GetAll(user_pb2.GetAllRequest(), metadata=as_user(NOBODY, ADMIN))).users


async def test_an_email_is_taken_whatever_its_case(users: Users) -> None:
    await users.Create(ada(email="ada@example.com"))

    with pytest.raises(AlreadyExists) as raised:
        await users.Create(ada(email="ADA@example.COM", name="Another Ada"))

    assert str(raised.value) == "a user with this email already exists"


async def test_get_needs_a_uuid(users: Users, as_user: AsUser) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await users.Get(user_pb2.GetRequest(id="42"), metadata=as_user(NOBODY))

    assert raised.value.field == "id"


async def test_get_of_an_unknown_user_is_not_found(users: Users, as_user: AsUser) -> None:
    with pytest.raises(NotFound):
        await users.Get(user_pb2.GetRequest(id=NOBODY), metadata=as_user(NOBODY, ADMIN))


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


async def test_auth_puts_the_users_roles_in_the_token(
    users: Users, repository: UserRepository, mint: TokenMint
) -> None:
    await users.Create(ada())
    assert await repository.grant("ada@example.com", "operator")
    login = user_pb2.AuthRequest(email="ada@example.com", password=PASSWORD)

    operator = await users.Auth(login)
    assert await repository.revoke("ada@example.com", "operator")
    plain = await users.Auth(login)

    assert roles_in(mint, operator.token) == {"operator"}
    assert roles_in(mint, plain.token) == set()


def roles_in(mint: TokenMint, token: str) -> set[str]:
    return set(TokenVerifier(mint.public_keys_file).verify(token).roles)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: m.token(NOBODY, ttl=timedelta(hours=-2)), "token expired"),
        (lambda m: m.token(NOBODY, ttl=timedelta(days=3650)), "lives longer than allowed"),
        (lambda m: m.token(NOBODY, claims={"sub": ""}), "invalid token: no subject"),
        (lambda m: m.token(NOBODY, claims={"iss": "someone.else"}), "not issued by user-service"),
        (lambda m: m.token("not-a-uuid"), "the subject is not a user id"),
        (lambda m: m.token(NOBODY), "the token's user does not exist"),
    ],
    ids=["expired", "ten years", "empty subject", "wrong issuer", "not a user id", "unknown user"],
)
async def test_validate_token_refuses_a_bad_token(
    users: Users, mint: TokenMint, make: Callable[[TokenMint], str], message: str
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=make(mint)))

    assert message in str(raised.value)


async def test_validate_token_refuses_a_token_of_another_key(users: Users, tmp_path: Path) -> None:
    forged = TokenMint.new(tmp_path / "attacker").token(NOBODY)

    with pytest.raises(Unauthenticated, match="signed with an unknown key"):
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=forged))


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


async def test_get_all_comes_in_pages_oldest_first(users: Users, as_user: AsUser) -> None:
    created = [(await users.Create(ada(email=f"user{n}@example.com"))).user.id for n in range(5)]
    admin = as_user(NOBODY, ADMIN)

    pages, request = [], user_pb2.GetAllRequest(page_size=2)
    while True:
        page = await users.GetAll(request, metadata=admin)
        pages.append([u.id for u in page.users])
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [id for p in pages for id in p] == created


async def test_a_bad_page_request_names_its_field(users: Users, as_user: AsUser) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await users.GetAll(
            user_pb2.GetAllRequest(page_token="nonsense"), metadata=as_user(NOBODY, ADMIN)
        )
    assert caught.value.field == "page_token"
