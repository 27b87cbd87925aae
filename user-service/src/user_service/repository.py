"""The `users` table in PostgreSQL. SQL only: nothing here knows about gRPC.

Emails are stored as given to `create` (the handler passes them in lower case);
a unique index on `lower(email)` makes them unique regardless of case.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg.rows import class_row
from shippy_kit.postgres import Connection, Pool, connection, create_schema, transaction

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


class UserRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table and its indexes if they do not exist yet."""
        await create_schema(self._pool, SCHEMA)

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """Everything inside commits together: `create` and the outbox write of
        its `UserCreated` event, say. Either both are stored or neither is."""
        return transaction(self._pool)

    async def create(self, *, name: str, company: str, email: str, password_hash: str) -> User:
        """Store a new user, committed when this returns unless inside
        `transaction()`, which then commits it. Raises `EmailTaken`."""
        try:
            async with connection(self._pool) as conn, conn.transaction():
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
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(User))
            await cursor.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
            return await cursor.fetchone()

    async def get_all(self) -> list[User]:
        """Every user, oldest first."""
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(User))
            await cursor.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id")
            return await cursor.fetchall()

    async def get_credentials(self, email: str) -> Credentials | None:
        """What `Auth` needs to check a password: the only read of the hash."""
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(Credentials))
            await cursor.execute(
                "SELECT id AS user_id, password_hash FROM users WHERE lower(email) = lower(%s)",
                (email,),
            )
            return await cursor.fetchone()
