"""The `users` table in PostgreSQL. SQL only: nothing here knows about gRPC.

Emails are stored as given to `create` (the handler passes them in lower case);
a unique index on `lower(email)` makes them unique regardless of case.
A user's `roles` (`admin`, `operator`) start empty and change only through
`grant` and `revoke` (`python -m user_service.roles`), never through an RPC.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import LiteralString

import psycopg
from shippy_kit.postgres import (
    Connection,
    Pool,
    connection,
    create_schema,
    fetch_all,
    fetch_one,
    transaction,
)

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
ALTER TABLE users ADD COLUMN IF NOT EXISTS roles text[] NOT NULL DEFAULT '{}';
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
    roles: list[str] = field(default_factory=list)


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
            user = await fetch_one(
                self._pool,
                User,
                "INSERT INTO users (name, company, email, password_hash)"
                f" VALUES (%s, %s, %s, %s) RETURNING {USER_COLUMNS}",
                (name, company, email, password_hash),
            )
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name == EMAIL_INDEX:
                raise EmailTaken(email) from None
            raise
        assert user is not None  # INSERT ... RETURNING returns the row
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await fetch_one(
            self._pool, User, f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,)
        )

    async def get_all(
        self, *, limit: int | None = None, after: tuple[datetime, uuid.UUID] | None = None
    ) -> list[User]:
        """Users, oldest first: up to `limit`, after (created_at, id) `after` when given."""
        where, args = ("WHERE (created_at, id) > (%s, %s)", [*after]) if after else ("", [])
        return await fetch_all(
            self._pool,
            User,
            f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY created_at, id LIMIT %s",
            (*args, limit),
        )

    async def get_credentials(self, email: str) -> Credentials | None:
        """What `Auth` needs to check a password: the only read of the hash."""
        return await fetch_one(
            self._pool,
            Credentials,
            "SELECT id AS user_id, password_hash, roles FROM users WHERE lower(email) = lower(%s)",
            (email,),
        )

    async def grant(self, email: str, role: str) -> bool:
        """Give the user with `email` the `role`; False when no user has that email."""
        return await self._change_roles(
            "UPDATE users SET roles = array(SELECT DISTINCT unnest(roles || %s::text))"
            " WHERE lower(email) = lower(%s)",
            role,
            email,
        )

    async def revoke(self, email: str, role: str) -> bool:
        """Take `role` from the user with `email`; False when no user has that email."""
        return await self._change_roles(
            "UPDATE users SET roles = array_remove(roles, %s::text) WHERE lower(email) = lower(%s)",
            role,
            email,
        )

    async def with_roles(self) -> list[tuple[str, list[str]]]:
        """(email, roles) of every user who has a role, by email."""
        async with connection(self._pool) as conn:
            cursor = await conn.execute(
                "SELECT email, roles FROM users WHERE roles <> '{}' ORDER BY email"
            )
            return [(email, sorted(roles)) for email, roles in await cursor.fetchall()]

    async def _change_roles(self, sql: LiteralString, role: str, email: str) -> bool:
        async with connection(self._pool) as conn:
            cursor = await conn.execute(sql, (role, email))
            return cursor.rowcount == 1
