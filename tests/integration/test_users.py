"""user-service through the micro client: sign-up, welcome email, login, and
what it refuses, each refusal with the status code and the field at fault."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from micro.errors import AlreadyExists, InvalidArgument, Unauthenticated
from shippy.user.v1 import user_pb2
from shippy_kit.auth import bearer

from .backends import MAIL, Stack
from .helpers import Account, Metadata, signup, unique_email

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub


@pytest.mark.needs(MAIL)
async def test_a_new_user_gets_a_welcome_email(stack: Stack, users: UserServiceAsyncStub) -> None:
    reply = await users.Create(signup(name="Grace Hopper", company="Navy"))

    welcome = await asyncio.to_thread(stack.wait_for_mail, to=reply.user.email)
    assert welcome["Subject"] == "Welcome to Shippy, Grace Hopper"


async def test_a_user_finds_themselves_and_an_admin_finds_them_in_the_list(
    users: UserServiceAsyncStub, user: Account, token: str, as_admin: Metadata
) -> None:
    found = await users.Get(user_pb2.GetRequest(id=user.id), metadata=bearer(token))
    # Every page: the session's stack holds every earlier test's users, oldest first.
    everyone: list[user_pb2.User] = []
    request = user_pb2.GetAllRequest(page_size=500)
    while True:
        page = await users.GetAll(request, metadata=as_admin)
        everyone += page.users
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token

    assert (found.user.name, found.user.email, found.user.company) == (
        user.name,
        user.email,
        user.company,
    )
    assert user.id in {u.id for u in everyone}


async def test_login_returns_a_token_that_names_the_user(
    users: UserServiceAsyncStub, user: Account
) -> None:
    login = await users.Auth(user_pb2.AuthRequest(email=user.email, password=user.password))

    check = await users.ValidateToken(user_pb2.ValidateTokenRequest(token=login.token))
    assert check.user_id == user.id


async def test_login_with_a_wrong_password_is_unauthenticated(
    users: UserServiceAsyncStub, user: Account
) -> None:
    with pytest.raises(Unauthenticated, match="invalid email or password"):
        await users.Auth(user_pb2.AuthRequest(email=user.email, password="not-the-password"))


async def test_an_email_can_sign_up_only_once_whatever_its_case(
    users: UserServiceAsyncStub,
) -> None:
    email = unique_email("Ada.Lovelace")
    await users.Create(signup(email=email))

    with pytest.raises(AlreadyExists):
        await users.Create(signup(email=email.upper()))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"name": ""}, "name", id="empty name"),
        pytest.param({"name": "   "}, "name", id="blank name"),
        pytest.param({"email": "ada.example.com"}, "email", id="email without @"),
        pytest.param({"email": "ada@localhost"}, "email", id="email without a dotted domain"),
        pytest.param({"password": "short"}, "password", id="password under 8 bytes"),
        pytest.param({"password": "é" * 37}, "password", id="password over 72 bytes in UTF-8"),
    ],
)
async def test_a_bad_sign_up_is_refused_naming_the_field(
    users: UserServiceAsyncStub, change: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await users.Create(signup(**change))

    assert refused.value.field == field


async def test_a_user_id_must_be_a_uuid(users: UserServiceAsyncStub, token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await users.Get(user_pb2.GetRequest(id="42"), metadata=bearer(token))

    assert refused.value.field == "id"
