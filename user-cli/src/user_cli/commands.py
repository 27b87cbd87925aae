"""The calls user-cli makes to user-service (`shippy.user`), one function per command.

Each returns the service's reply as it came; `output` decides how it looks.
A failed call raises the `micro.errors` class of its status code. `get` and
`list_users` carry the user's token (`shippy_kit.cli.bearer`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from micro import Options
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.cli import connect

SERVICE = "shippy.user"


@asynccontextmanager
async def user_service(options: Options) -> AsyncIterator[user_pb2_grpc.UserServiceAsyncStub]:
    async with connect(options) as client:
        yield client.stub(user_pb2_grpc.UserServiceStub, SERVICE)


async def create(
    options: Options, *, name: str, email: str, company: str, password: str
) -> user_pb2.CreateResponse:
    request = user_pb2.CreateRequest(name=name, email=email, company=company, password=password)
    async with user_service(options) as users:
        return await users.Create(request)


async def login(options: Options, *, email: str, password: str) -> user_pb2.AuthResponse:
    async with user_service(options) as users:
        return await users.Auth(user_pb2.AuthRequest(email=email, password=password))


async def get(options: Options, *, user_id: str, token: str) -> user_pb2.GetResponse:
    async with user_service(options) as users:
        return await users.Get(user_pb2.GetRequest(id=user_id), metadata=bearer(token))


MAX_PAGE_SIZE = 500
"""The largest page user-service gives."""


async def list_users(options: Options, *, token: str) -> user_pb2.GetAllResponse:
    """Every page of the users, in one reply."""
    everything = user_pb2.GetAllResponse()
    async with user_service(options) as users:
        request = user_pb2.GetAllRequest(page_size=MAX_PAGE_SIZE)
        while True:
            page = await users.GetAll(request, metadata=bearer(token))
            everything.users.extend(page.users)
            if not page.next_page_token:
                return everything
            request.page_token = page.next_page_token


async def validate(options: Options, *, token: str) -> user_pb2.ValidateTokenResponse:
    async with user_service(options) as users:
        return await users.ValidateToken(user_pb2.ValidateTokenRequest(token=token))
