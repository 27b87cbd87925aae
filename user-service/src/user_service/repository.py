"""The `users` table in PostgreSQL. SQL only: nothing here knows about gRPC.

Emails are stored as given to `create` (the handler passes them in lower case);
a unique index on `lower(email)` makes them unique regardless of case.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import psycopg_pool
from psycopg.rows import class_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    company       text        NOT NULL DEFAULT '',
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));
CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at, id);
"""
EMAIL_INDEX = "users_email_key"
SCHEMA_LOCK = 0x5348_4950_5059  # any constant: serialises schema creation across replicas

USER_COLUMNS = "id, name, company, email, created_at"


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    name: str
    company: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Credentials:
    user_id: uuid.UUID
    password_hash: str = field(repr=False)


class EmailTaken(Exception):
    """A user with this email (in any case) already exists."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached, or no connection was free in time."""


def connection_pool(
    database_url: str, *, max_size: int = 10, timeout: float = 3.0
) -> psycopg_pool.AsyncConnectionPool:
    """A pool, not yet open, that survives the database going away.

    Each connection is checked before it is lent, so one that broke while idle
    (a restart, a failover) is replaced instead of failing a request. A request
    waits at most `timeout` seconds for a connection. psycopg_pool retries a
    failed connection with exponential backoff for `reconnect_timeout` seconds;
    it is short, so that a database that comes back is used again within seconds.
    """
    return psycopg_pool.AsyncConnectionPool(
        database_url,
        open=False,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        reconnect_timeout=10.0,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
        name="users",
    )


async def open_pool(pool: psycopg_pool.AsyncConnectionPool, *, connect_timeout: float) -> None:
    """Open the pool and wait for its first connection, or raise `DatabaseUnavailable`."""
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except psycopg_pool.PoolTimeout:
        await pool.close()
        raise DatabaseUnavailable(f"no connection within {connect_timeout:g}s") from None


class UserRepository:
    def __init__(self, pool: psycopg_pool.AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table and its indexes if they do not exist yet."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def create(self, *, name: str, company: str, email: str, password_hash: str) -> User:
        """Store a new user, committed when this returns. Raises `EmailTaken`."""
        try:
            async with self._connection() as conn, conn.transaction():
                cursor = conn.cursor(row_factory=class_row(User))
                await cursor.execute(
                    "INSERT INTO users (name, company, email, password_hash)"
                    f" VALUES (%s, %s, %s, %s) RETURNING {USER_COLUMNS}",
                    (name, company, email, password_hash),
                )
                user = await cursor.fetchone()
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name == EMAIL_INDEX:
                raise EmailTaken(email) from None
            raise
        assert user is not None  # INSERT ... RETURNING returns the row
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(User))
            await cursor.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
            return await cursor.fetchone()

    async def get_all(self) -> list[User]:
        """Every user, oldest first."""
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(User))
            await cursor.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id")
            return await cursor.fetchall()

    async def get_credentials(self, email: str) -> Credentials | None:
        """What `Auth` needs to check a password: the only read of the hash."""
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Credentials))
            await cursor.execute(
                "SELECT id AS user_id, password_hash FROM users WHERE lower(email) = lower(%s)",
                (email,),
            )
            return await cursor.fetchone()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection; connection failures become `DatabaseUnavailable`.

        The pool drops a connection that broke, so the next call gets a fresh one
        once the database is back.
        """
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            raise DatabaseUnavailable(str(error).strip()) from error
