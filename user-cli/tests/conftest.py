"""Fixtures for user-cli tests: the CLI run in-process with its output
captured, and a small in-test UserService served by a real micro Service
on a real NATS (the `nats_url` fixture), found by the CLI through the registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from devstack.testing import RunCli, cli_runner, serving
from google.protobuf.timestamp_pb2 import Timestamp
from micro.errors import InvalidArgument, NotFound, Unauthenticated
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy.user.v1.user_pb2_grpc import add_UserServiceServicer_to_server
from user_cli.main import main

Context = grpc.aio.ServicerContext[object, object]


class FakeUsers(user_pb2_grpc.UserServiceServicer):
    """Just enough of user-service to answer the CLI; the real one has its own tests."""

    def __init__(self) -> None:
        self.users: dict[str, user_pb2.User] = {}
        self.passwords: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def Create(
        self, request: user_pb2.CreateRequest, context: Context
    ) -> user_pb2.CreateResponse:
        if "@" not in request.email:
            raise InvalidArgument("email", "not a valid email address")
        user = user_pb2.User(
            id=str(uuid.uuid4()), name=request.name, company=request.company, email=request.email
        )
        user.created_at.GetCurrentTime()
        self.users[user.id] = user
        self.passwords[user.email] = request.password
        return user_pb2.CreateResponse(user=user)

    def caller(self, context: Context) -> str:
        """The user whose token the call carries, as user-service checks it."""
        metadata = dict(context.invocation_metadata() or ())
        token = str(metadata.get("authorization", "")).removeprefix("Bearer ")
        if token not in self.tokens:
            raise Unauthenticated("invalid token")
        return self.tokens[token]

    async def Get(self, request: user_pb2.GetRequest, context: Context) -> user_pb2.GetResponse:
        self.caller(context)
        if request.id not in self.users:
            raise NotFound(f"user {request.id} not found")
        return user_pb2.GetResponse(user=self.users[request.id])

    async def GetAll(
        self, request: user_pb2.GetAllRequest, context: Context
    ) -> user_pb2.GetAllResponse:
        self.caller(context)
        return user_pb2.GetAllResponse(users=list(self.users.values()))

    async def Auth(self, request: user_pb2.AuthRequest, context: Context) -> user_pb2.AuthResponse:
        if self.passwords.get(request.email) != request.password:
            raise Unauthenticated("invalid email or password")
        [user] = [u for u in self.users.values() if u.email == request.email]
        token = f"token-{uuid.uuid4().hex}"
        self.tokens[token] = user.id
        return user_pb2.AuthResponse(token=token, expires_at=an_hour_from_now())

    async def ValidateToken(
        self, request: user_pb2.ValidateTokenRequest, context: Context
    ) -> user_pb2.ValidateTokenResponse:
        if request.token not in self.tokens:
            raise Unauthenticated("invalid token")
        return user_pb2.ValidateTokenResponse(
            user_id=self.tokens[request.token], expires_at=an_hour_from_now()
        )


def an_hour_from_now() -> Timestamp:
    expires = Timestamp()
    expires.GetCurrentTime()
    expires.seconds += 3600
    return expires


@pytest.fixture
async def users(stack_env: str) -> AsyncIterator[FakeUsers]:
    """A UserService registered as "shippy.user" in the NATS registry."""
    fake = FakeUsers()
    async with serving("shippy.user", add_UserServiceServicer_to_server, fake, stack_env):
        yield fake


@pytest.fixture
def user_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Runs `user-cli ARGS...` in-process; returns (exit code, stdout, stderr)."""
    return cli_runner(main, capsys, monkeypatch)
