"""The `vessels` table in PostgreSQL. SQL only: nothing here knows about gRPC.

Each vessel records what is booked on it (`containers_booked`, `weight_booked`):
`book` puts a load on the smallest vessel with room left for it, so a vessel
fills up and stops being found instead of being "available" for ever. Each
booking is a row of `bookings` (who booked, how much), so that `release` can
give back exactly what one booking took, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row
from shippy_kit.postgres import Pool, connection, create_schema, fetch_one

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
CREATE TABLE IF NOT EXISTS bookings (
    id          uuid        PRIMARY KEY,
    vessel_id   uuid        NOT NULL REFERENCES vessels (id),
    containers  integer     NOT NULL,
    weight      bigint      NOT NULL,
    booked_by   text        NOT NULL,
    released_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
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


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    vessel_id: uuid.UUID
    containers: int
    weight: int
    booked_by: str
    """The subject of the token it was booked with."""
    released: bool = False


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
        return await fetch_one(
            self._pool,
            Vessel,
            f"SELECT {VESSEL_COLUMNS} FROM vessels WHERE {HAS_ROOM} {SMALLEST_FIRST} LIMIT 1",
            {"capacity": capacity, "max_weight": max_weight},
        )

    async def book(
        self, *, capacity: int, max_weight: int, booked_by: str
    ) -> tuple[Vessel, Booking] | None:
        """Put the load on the vessel `find_available` would pick, atomically,
        and record the booking: the vessel as booked and the booking, or None
        when none has room.

        The vessel is locked while it is booked; a concurrent booking skips it
        and takes the next that fits, and only when every fitting vessel is
        locked does it wait for one (then the room left is checked again).
        """
        load = {"capacity": capacity, "max_weight": max_weight}
        booking_id = uuid.uuid4()
        async with connection(self._pool) as conn, conn.transaction():
            cursor = conn.cursor(row_factory=class_row(Vessel))
            for lock in ("FOR UPDATE SKIP LOCKED", "FOR UPDATE"):
                await cursor.execute(
                    "UPDATE vessels SET containers_booked = containers_booked + %(capacity)s,"
                    " weight_booked = weight_booked + %(max_weight)s"
                    f" WHERE id = (SELECT id FROM vessels WHERE {HAS_ROOM} {SMALLEST_FIRST}"
                    f" LIMIT 1 {lock}) AND {HAS_ROOM} RETURNING {VESSEL_COLUMNS}",
                    load,
                )
                vessel = await cursor.fetchone()
                if vessel is not None:
                    booking = Booking(booking_id, vessel.id, capacity, max_weight, booked_by)
                    await conn.execute(
                        "INSERT INTO bookings (id, vessel_id, containers, weight, booked_by)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (booking.id, vessel.id, capacity, max_weight, booked_by),
                    )
                    return vessel, booking
            return None

    async def booking(self, booking_id: uuid.UUID) -> Booking | None:
        return await fetch_one(
            self._pool,
            Booking,
            "SELECT id, vessel_id, containers, weight, booked_by,"
            " released_at IS NOT NULL AS released FROM bookings WHERE id = %s",
            (booking_id,),
        )

    async def release(self, booking_id: uuid.UUID) -> Vessel | None:
        """Give back the room the booking took, once: the vessel after, or
        None when there is no such booking. A booking released before
        changes nothing (the vessel as it is)."""
        async with connection(self._pool) as conn, conn.transaction():
            cursor = conn.cursor(row_factory=class_row(Vessel))
            await cursor.execute(
                "WITH released AS (UPDATE bookings SET released_at = now()"
                " WHERE id = %(id)s AND released_at IS NULL"
                " RETURNING vessel_id, containers, weight)"
                " UPDATE vessels SET containers_booked = containers_booked - released.containers,"
                " weight_booked = weight_booked - released.weight"
                f" FROM released WHERE vessels.id = released.vessel_id RETURNING {_qualified()}",
                {"id": booking_id},
            )
            vessel = await cursor.fetchone()
            if vessel is not None:
                return vessel
            await cursor.execute(
                f"SELECT {_qualified()} FROM vessels JOIN bookings"
                " ON bookings.vessel_id = vessels.id WHERE bookings.id = %s",
                (booking_id,),
            )
            return await cursor.fetchone()

    async def get(self, vessel_id: uuid.UUID) -> Vessel | None:
        return await fetch_one(
            self._pool, Vessel, f"SELECT {VESSEL_COLUMNS} FROM vessels WHERE id = %s", (vessel_id,)
        )


def _qualified() -> str:
    """VESSEL_COLUMNS of the vessels table, in a statement that joins another."""
    return ", ".join(f"vessels.{column.strip()}" for column in VESSEL_COLUMNS.split(","))


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
