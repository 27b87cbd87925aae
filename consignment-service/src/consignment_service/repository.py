"""The `consignments` table in PostgreSQL. SQL only: nothing here knows about gRPC.

A consignment's containers are stored with it, as a JSONB array: they are
always written and read together, and never queried on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

# user_id and vessel_id are text: other services own those ids, this one only
# keeps them as references.
SCHEMA = """
CREATE TABLE IF NOT EXISTS consignments (
    id          uuid        PRIMARY KEY,
    user_id     text        NOT NULL,
    description text        NOT NULL,
    weight      bigint      NOT NULL CHECK (weight >= 0),
    containers  jsonb       NOT NULL,
    vessel_id   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS consignments_user_created_idx
    ON consignments (user_id, created_at DESC, id DESC);
"""
SCHEMA_LOCK = 0x434F_4E53_4947  # any constant: serialises schema creation across replicas

CONSIGNMENT_COLUMNS = "id, user_id, description, weight, containers, vessel_id, created_at"


@dataclass(frozen=True)
class Container:
    id: uuid.UUID
    customer_id: str
    origin: str


@dataclass(frozen=True)
class Consignment:
    id: uuid.UUID
    user_id: str
    """The user whose token created it."""
    description: str
    weight: int
    """The total weight, in kilograms."""
    containers: tuple[Container, ...]
    vessel_id: str
    created_at: datetime


class ConsignmentExists(Exception):
    """A consignment with this id is already stored."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached, or no connection was free in time."""


def connection_pool(
    database_url: str, *, max_size: int = 10, timeout: float = 3.0
) -> psycopg_pool.AsyncConnectionPool:
    """A pool, not yet open, that survives the database going away.

    Each connection is checked before it is lent, so one that broke while idle
    (a restart, a failover) is replaced instead of failing a request. A request
    waits at most `timeout` seconds for a connection: less than the callers'
    default 5 s deadline, so they see UNAVAILABLE rather than DEADLINE_EXCEEDED.
    """
    return psycopg_pool.AsyncConnectionPool(
        database_url,
        open=False,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        reconnect_timeout=10.0,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
        name="consignments",
    )


async def open_pool(pool: psycopg_pool.AsyncConnectionPool, *, connect_timeout: float) -> None:
    """Open the pool and wait for its first connection, or raise `DatabaseUnavailable`."""
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except psycopg_pool.PoolTimeout:
        await pool.close()
        raise DatabaseUnavailable(f"no connection within {connect_timeout:g}s") from None


class ConsignmentRepository:
    def __init__(self, pool: psycopg_pool.AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table and its index if they do not exist yet."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def create(
        self,
        *,
        id: uuid.UUID,
        user_id: str,
        description: str,
        weight: int,
        containers: Sequence[Container],
        vessel_id: str,
    ) -> Consignment:
        """Store a consignment, committed when this returns; the database
        stamps `created_at`. Raises `ConsignmentExists`."""
        try:
            async with self._connection() as conn:
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(
                    "INSERT INTO consignments"
                    " (id, user_id, description, weight, containers, vessel_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    f" RETURNING {CONSIGNMENT_COLUMNS}",
                    (id, user_id, description, weight, _containers_json(containers), vessel_id),
                )
                row = await cursor.fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConsignmentExists(str(id)) from None
        assert row is not None  # INSERT ... RETURNING returns the row
        return _consignment(row)

    async def list_for_user(self, user_id: str) -> list[Consignment]:
        """The consignments `user_id` created, newest first."""
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                f"SELECT {CONSIGNMENT_COLUMNS} FROM consignments WHERE user_id = %s"
                " ORDER BY created_at DESC, id DESC",
                (user_id,),
            )
            return [_consignment(row) for row in await cursor.fetchall()]

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


def _containers_json(containers: Sequence[Container]) -> Jsonb:
    return Jsonb([{**asdict(c), "id": str(c.id)} for c in containers])


def _consignment(row: dict[str, Any]) -> Consignment:
    return Consignment(
        id=row["id"],
        user_id=row["user_id"],
        description=row["description"],
        weight=row["weight"],
        containers=tuple(
            Container(id=uuid.UUID(c["id"]), customer_id=c["customer_id"], origin=c["origin"])
            for c in row["containers"]
        ),
        vessel_id=row["vessel_id"],
        created_at=row["created_at"],
    )
