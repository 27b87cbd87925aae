"""The `vessels` table in PostgreSQL. SQL only: nothing here knows about gRPC.

Each vessel records what is booked on it (`containers_booked`, `weight_booked`):
`book` puts a load on the smallest vessel with room left for it, so a vessel
fills up and stops being found instead of being "available" for ever.
"""

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
ALTER TABLE vessels ADD COLUMN IF NOT EXISTS containers_booked integer NOT NULL DEFAULT 0;
ALTER TABLE vessels ADD COLUMN IF NOT EXISTS weight_booked bigint NOT NULL DEFAULT 0;
"""

VESSEL_COLUMNS = (
    "id, name, capacity, max_weight, available, owner_id, containers_booked, weight_booked"
)
HAS_ROOM = (
    "available AND capacity - containers_booked >= %(capacity)s"
    " AND max_weight - weight_booked >= %(max_weight)s"
)
SMALLEST_FIRST = "ORDER BY capacity, max_weight, id"
INSERT = (
    "INSERT INTO vessels (id, name, capacity, max_weight, available, owner_id,"
    " containers_booked, weight_booked)"
    " VALUES (%(id)s, %(name)s, %(capacity)s, %(max_weight)s, %(available)s, %(owner_id)s,"
    " %(containers_booked)s, %(weight_booked)s)"
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
    containers_booked: int = 0
    """How many containers of booked loads it carries."""
    weight_booked: int = 0
    """Kilograms of booked loads."""


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
        """The smallest available vessel with room left for `capacity` containers
        weighing `max_weight` kg, or None. Books nothing: see `book`.

        Smallest means fewest containers, then least weight, then lowest id:
        the same load gets the same vessel every time, and big vessels stay
        free for big loads.
        """
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(Vessel))
            await cursor.execute(
                f"SELECT {VESSEL_COLUMNS} FROM vessels WHERE {HAS_ROOM} {SMALLEST_FIRST} LIMIT 1",
                {"capacity": capacity, "max_weight": max_weight},
            )
            return await cursor.fetchone()

    async def book(self, *, capacity: int, max_weight: int) -> Vessel | None:
        """Put the load on the vessel `find_available` would pick, atomically:
        the vessel as booked, or None when none has room.

        The vessel is locked while it is booked; a concurrent booking skips it
        and takes the next that fits, and only when every fitting vessel is
        locked does it wait for one (then the room left is checked again).
        """
        load = {"capacity": capacity, "max_weight": max_weight}
        async with connection(self._pool) as conn:
            cursor = conn.cursor(row_factory=class_row(Vessel))
            for lock in ("FOR UPDATE SKIP LOCKED", "FOR UPDATE"):
                await cursor.execute(
                    "UPDATE vessels SET containers_booked = containers_booked + %(capacity)s,"
                    " weight_booked = weight_booked + %(max_weight)s"
                    f" WHERE id = (SELECT id FROM vessels WHERE {HAS_ROOM} {SMALLEST_FIRST}"
                    f" LIMIT 1 {lock}) AND {HAS_ROOM} RETURNING {VESSEL_COLUMNS}",
                    load,
                )
                booked = await cursor.fetchone()
                if booked is not None:
                    return booked
            return None

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
        "containers_booked": vessel.containers_booked,
        "weight_booked": vessel.weight_booked,
    }
