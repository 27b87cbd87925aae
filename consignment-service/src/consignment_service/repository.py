"""The `consignments` table in PostgreSQL. SQL only: nothing here knows about gRPC.

A consignment's containers are stored with it, as a JSONB array: they are
always written and read together, and never queried on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from shippy_kit.postgres import Pool, connection, create_schema

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


class ConsignmentRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table and its index if they do not exist yet."""
        await create_schema(self._pool, SCHEMA)

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
            async with connection(self._pool) as conn:
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

    async def list_for_user(
        self, user_id: str, *, limit: int, after: tuple[datetime, uuid.UUID] | None = None
    ) -> list[Consignment]:
        """Up to `limit` consignments `user_id` created, newest first, starting
        after (created_at, id) `after` when given."""
        where = "user_id = %s"
        args: list[object] = [user_id]
        if after is not None:
            where += " AND (created_at, id) < (%s, %s)"
            args += [after[0], after[1]]
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                f"SELECT {CONSIGNMENT_COLUMNS} FROM consignments WHERE {where}"
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                (*args, limit),
            )
            return [_consignment(row) for row in await cursor.fetchall()]


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
