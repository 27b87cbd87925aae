"""When PostgreSQL goes away, calls fail as UNAVAILABLE; when it is back, the
pool uses it again without a restart. A proxy in front of the test database
plays the outage, so that other tests' databases are left alone."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TypeVar

import psycopg
import pytest
from devstack.testing import first_success
from micro.errors import Unavailable
from shippy.user.v1 import user_pb2
from user_service.config import Config
from user_service.repository import (
    DatabaseUnavailable,
    UserRepository,
    connection_pool,
    open_pool,
)

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users

T = TypeVar("T")


async def terminate_other_connections(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


class DatabaseProxy:
    """A TCP proxy in front of the test database that a test can cut, as if the
    database went down (connections drop, new ones are refused), and restore."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        target = psycopg.conninfo.conninfo_to_dict(database_url)
        self._host = str(target.get("host") or "127.0.0.1")
        self._port = int(target.get("port") or 5432)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._down = False
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = psycopg.conninfo.make_conninfo(self._database_url, host="127.0.0.1", port=port)

    def cut(self) -> None:
        self._down = True
        for writer in self._writers:
            writer.transport.abort()

    def restore(self) -> None:
        self._down = False

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.cut()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self._down:
            client.transport.abort()
            return
        if self._host.startswith("/"):  # a directory holding the server's Unix socket
            socket = f"{self._host}/.s.PGSQL.{self._port}"
            server_reader, server = await asyncio.open_unix_connection(socket)
        else:
            server_reader, server = await asyncio.open_connection(self._host, self._port)
        self._writers |= {client, server}
        for reader, writer in ((client_reader, server), (server_reader, client)):
            pipe = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError):
                writer.close()


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[DatabaseProxy]:
    proxy = DatabaseProxy(database_url)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied_repository(database_proxy: DatabaseProxy) -> AsyncIterator[UserRepository]:
    pool = connection_pool(database_proxy.url, timeout=0.5)
    await open_pool(pool, connect_timeout=10)
    repository = UserRepository(pool)
    await repository.create_schema()
    yield repository
    await pool.close()


@pytest.fixture
def config(config: Config, database_proxy: DatabaseProxy) -> Config:
    """The service of these tests reaches its database through the proxy, and
    waits half a second for a connection before it answers UNAVAILABLE."""
    return dataclasses.replace(config, database_url=database_proxy.url, database_timeout=0.5)


async def test_connections_killed_while_idle_are_replaced_unnoticed(
    repository: UserRepository, database_url: str
) -> None:
    await repository.get_all()

    assert await terminate_other_connections(database_url) >= 1

    assert await repository.get_all() == []


async def test_the_repository_says_unavailable_until_the_database_is_back(
    proxied_repository: UserRepository, database_proxy: DatabaseProxy
) -> None:
    await proxied_repository.create(
        name="Ada", company="", email="ada@example.com", password_hash="x"
    )

    database_proxy.cut()
    with pytest.raises(DatabaseUnavailable):
        await proxied_repository.get_all()

    database_proxy.restore()
    users = await first_success(proxied_repository.get_all, DatabaseUnavailable, within=15)
    assert [user.email for user in users] == ["ada@example.com"]


async def test_callers_see_unavailable_until_the_database_is_back(
    users: Users, database_proxy: DatabaseProxy
) -> None:
    request = user_pb2.CreateRequest(name="Ada", email="ada@example.com", password="12345678")
    created = (await users.Create(request)).user
    get = user_pb2.GetRequest(id=created.id)

    database_proxy.cut()
    with pytest.raises(Unavailable) as raised:
        await users.Get(get)
    assert str(raised.value) == "database unavailable"

    database_proxy.restore()
    fetched = await first_success(lambda: users.Get(get), Unavailable, within=15)
    assert fetched.user == created


async def test_opening_a_pool_without_a_database_says_unavailable(
    database_proxy: DatabaseProxy,
) -> None:
    database_proxy.cut()
    pool = connection_pool(database_proxy.url)

    with pytest.raises(DatabaseUnavailable, match=r"^no connection within 0.5s$"):
        await open_pool(pool, connect_timeout=0.5)
