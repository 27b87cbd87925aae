"""The `vessels` table in PostgreSQL. SQL only: nothing here knows about gRPC."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row
from shippy_kit.postgres import Pool, connection, create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS vessels (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    capacity   integer     NOT NULL CHECK (capacity > 0),
    max_weight bigint      NOT NULL CHECK (max_weight > 0),
    available  boolean     NOT NULL DEFAULT true,
    owner_id   text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS vessels_smallest_fit_idx
    ON vessels (capacity, max_weight, id) WHERE available;
"""

VESSEL_COLUMNS = "id, name, capacity, max_weight, available, owner_id"
INSERT = (
    "INSERT INTO vessels (id, name, capacity, max_weight, available, owner_id)"
    " VALUES (%(id)s, %(name)s, %(capacity)s, %(max_weight)s, %(available)s, %(owner_id)s)"
)


@dataclass(frozen=True)
class Vessel:
    id: uuid.UUID
    name: str
    capacity: int
    """How many containers it carries."""
    max_weight: int
    """The most it carries, in kilograms."""
    available: bool = True
    owner_id: str = ""


class VesselExists(Exception):
    """A vessel with this id is already stored."""


class VesselRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table and its index if they do not exist yet."""
        await create_schema(self._pool, SCHEMA)

    async def seed(self, fleet: Iterable[Vessel]) -> int:
        """Store the vessels of `fleet` whose ids are not stored yet; how many were.

        Running it again changes nothing, and leaves alone a seeded vessel that
        was changed since.
        """
        async with connection(self._pool) as conn, conn.transaction():
            cursor = conn.cursor()
            inserted = 0
            for vessel in fleet:
                await cursor.execute(f"{INSERT} ON CONFLICT (id) DO NOTHING", _params(vessel))
                inserted += cursor.rowcount
            return inserted

    async def create(self, vessel: Vessel) -> Vessel:
        """Store `vessel`, committed when this returns. Raises `VesselExists`."""
        try:
            async with connection(self._pool) as conn:
                await conn.execute(INSERT, _params(vessel))
        except psycopg.errors.UniqueViolation:
            raise VesselExists(str(vessel.id)) from None
        return vessel

    async def find_available(self, *, capacity: int, max_weight: int) -> Vessel | None:
        """The smallest available vessel that takes `capacity` containers
        weighing `max_weight` kg, or None.

        Smallest means fewest containers, then least weight, then lowest id:
        the same load gets the same vessel every time, and big vessels stay
        free for big loads.
        """
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(Vessel))
            await cursor.execute(
                f"SELECT {VESSEL_COLUMNS} FROM vessels"
                " WHERE available AND capacity >= %s AND max_weight >= %s"
                " ORDER BY capacity, max_weight, id LIMIT 1",
                (capacity, max_weight),
            )
            return await cursor.fetchone()

    async def get(self, vessel_id: uuid.UUID) -> Vessel | None:
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(Vessel))
            await cursor.execute(
                f"SELECT {VESSEL_COLUMNS} FROM vessels WHERE id = %s", (vessel_id,)
            )
            return await cursor.fetchone()


def _params(vessel: Vessel) -> dict[str, object]:
    return {
        "id": vessel.id,
        "name": vessel.name,
        "capacity": vessel.capacity,
        "max_weight": vessel.max_weight,
        "available": vessel.available,
        "owner_id": vessel.owner_id,
    }
