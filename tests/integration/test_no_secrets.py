"""A password goes in once, at sign-up or login, and nothing ever gives it back:
no reply, no event, no log line carries a password or a bcrypt hash."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import jwt
import nats
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from micro.errors import InvalidArgument, Unauthenticated
from micro.nats_client import login_options, servers
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from shippy.consignment.v1 import consignment_pb2
from shippy.user.v1 import events_pb2, user_pb2
from shippy_kit.auth import bearer

from .backends import LOGS, Stack
from .helpers import BCRYPT_PREFIX, Metadata, new_password, signup, wait_until

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub


def assert_no_secret_in(text: str | bytes, *secrets: str) -> None:
    """Neither any of `secrets` nor anything that looks like a bcrypt hash is in `text`."""
    haystack = text.decode(errors="replace") if isinstance(text, bytes) else text
    for secret in (*secrets, BCRYPT_PREFIX):
        assert secret not in haystack, f"{secret!r} leaked"


def assert_no_secret_in_reply(reply: Message, *secrets: str) -> None:
    """... neither in the bytes on the wire nor in the JSON the CLIs print."""
    assert_no_secret_in(reply.SerializeToString(), *secrets)
    assert_no_secret_in(json_format.MessageToJson(reply), *secrets)


async def test_no_reply_carries_a_password_or_a_hash(
    users: UserServiceAsyncStub, as_admin: Metadata
) -> None:
    request = signup()
    password = request.password

    created = await users.Create(request)
    login = await users.Auth(user_pb2.AuthRequest(email=request.email, password=password))
    replies = [
        created,
        await users.Get(user_pb2.GetRequest(id=created.user.id), metadata=bearer(login.token)),
        await users.GetAll(user_pb2.GetAllRequest(), metadata=as_admin),
        login,
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=login.token)),
    ]

    for reply in replies:
        assert_no_secret_in_reply(reply, password)
    claims = jwt.decode(login.token, options={"verify_signature": False})
    assert_no_secret_in(json.dumps(claims), password)


async def test_a_refused_password_is_not_repeated_in_the_error(
    users: UserServiceAsyncStub,
) -> None:
    too_long = new_password() * 3

    with pytest.raises(InvalidArgument) as refused:
        await users.Create(signup(password=too_long))

    assert_no_secret_in(refused.value.message, too_long)


@asynccontextmanager
async def listening(stack: Stack, subject: str) -> AsyncIterator[Subscription]:
    """A plain nats-py subscription, known to the server once this enters
    (with the operator's login: the CLI's may not read events)."""
    connection = await nats.connect(servers(stack.nats_url), **login_options(stack.operator_login))
    try:
        subscription = await connection.subscribe(subject)
        await connection.flush()
        yield subscription
    finally:
        await connection.close()


async def user_created_event(
    events: Subscription, user_id: str, within: float = 10.0
) -> tuple[Msg, events_pb2.UserCreated]:
    """The raw message and the event that announced `user_id`."""
    async with asyncio.timeout(within):
        while True:
            message = await events.next_msg(timeout=within)
            event = events_pb2.UserCreated.FromString(message.data)
            if event.user_id == user_id:
                return message, event


async def test_the_user_created_event_carries_no_password_or_hash(
    stack: Stack, users: UserServiceAsyncStub
) -> None:
    async with listening(stack, "user.created") as events:
        request = signup()
        created = await users.Create(request)

        message, event = await user_created_event(events, created.user.id)

    assert event.email == request.email
    assert_no_secret_in(message.data, request.password)
    assert_no_secret_in(json.dumps(message.headers or {}), request.password)


@pytest.mark.needs(LOGS)
async def test_no_service_logs_a_password_a_hash_or_a_token(
    stack: Stack, users: UserServiceAsyncStub, shipping: ShippingServiceAsyncStub
) -> None:
    request = signup()
    wrong_password = new_password()
    created = await users.Create(request)
    login = await users.Auth(user_pb2.AuthRequest(email=request.email, password=request.password))
    with pytest.raises(Unauthenticated):
        await users.Auth(user_pb2.AuthRequest(email=request.email, password=wrong_password))
    await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(), metadata=bearer(login.token)
    )

    async def every_step_is_logged() -> bool:
        logs = stack.service_logs()
        return (
            f"wrong password for id={created.user.id}" in logs
            and f"welcome email sent to {request.email}" in logs
        )

    await wait_until(every_step_is_logged, within=10.0, waiting_for="the services' log lines")
    assert_no_secret_in(stack.service_logs(), request.password, wrong_password, login.token)
