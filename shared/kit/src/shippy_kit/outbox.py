"""A transactional outbox in PostgreSQL: the `micro.outbox.Outbox` Shippy's services use.

    outbox = PostgresOutbox(pool)
    created = service.publisher("user.created", UserCreated, outbox=outbox)

    async with transaction(pool):                 # shippy_kit.postgres
        user = await repository.create(...)       # the same transaction...
        await created.publish(UserCreated(...))   # ...writes the event row

Each event is a row of `micro_outbox`, keyed by its event id (the `Micro-Id`
header). Writing it also sends `NOTIFY micro_outbox`, which PostgreSQL
delivers at the commit: relays wait with `LISTEN`, so a new event is sent
at once and nothing polls. A relay takes pending rows `FOR UPDATE SKIP
LOCKED`, oldest first, so several service instances share the work and no
row goes to two of them at once. A row is marked published, and removed
`retention` after that.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg
from micro.errors import Unavailable
from micro.outbox import OutboxEvent, Send
from micro.pubsub import MICRO_ID

from shippy_kit.postgres import Pool, connection, create_schema, in_transaction

log = logging.getLogger(__name__)

CHANNEL = "micro_outbox"
PRUNE_INTERVAL = 60.0
"""Seconds between two removals of rows published longer than `retention` ago."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS micro_outbox (
    id           text        PRIMARY KEY,
    topic        text        NOT NULL,
    data         bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX IF NOT EXISTS micro_outbox_pending
    ON micro_outbox (created_at, id) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS micro_outbox_published
    ON micro_outbox (published_at) WHERE published_at IS NOT NULL;
"""


class PostgresOutbox:
    def __init__(self, pool: Pool, *, retention: timedelta = timedelta(days=1)) -> None:
        self.pool = pool
        self.retention = retention
        """How long a published row is kept, for an operator to look at."""
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._next_prune = 0.0

    async def create_schema(self) -> None:
        await create_schema(self.pool, SCHEMA)

    async def publish(self, topic: str, data: bytes, headers: Mapping[str, str]) -> None:
        conn = in_transaction(self.pool)
        if conn is None:
            raise RuntimeError(
                f"an outbox publish on {topic!r} must be inside `transaction(pool)`: "
                "the event is written with the data it announces"
            )
        await conn.execute(  # one round trip: the row, and the wake-up sent at commit
            "WITH event AS (INSERT INTO micro_outbox (id, topic, data, headers)"
            " VALUES (%s, %s, %s, %s) RETURNING id) SELECT pg_notify(%s, '') FROM event",
            (headers[MICRO_ID], topic, data, json.dumps(dict(headers)), CHANNEL),
        )

    async def relay(self, send: Send, limit: int) -> int:
        await self._listen()  # before looking: a row committed after the look still wakes us
        sent: list[str] = []
        failure: Exception | None = None
        async with connection(self.pool) as conn, conn.transaction():
            # Marking rows published need not wait for the disk: a mark lost in a
            # crash only sends those events again, which the stream's dedupe window
            # and idempotent consumers absorb; one fsync per sign-up is enough.
            await conn.execute("SET LOCAL synchronous_commit = off")
            cursor = await conn.execute(
                "SELECT id, topic, data, headers FROM micro_outbox WHERE published_at IS NULL"
                " ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (limit,),
            )
            events = [OutboxEvent(*row) for row in await cursor.fetchall()]
            for event in events:
                try:
                    await send(event.topic, bytes(event.data), event.headers)
                except Exception as error:  # the rest waits for the next try, in order
                    failure = error
                    await conn.execute(
                        "UPDATE micro_outbox SET attempts = attempts + 1, last_error = %s"
                        " WHERE id = %s",
                        (str(error)[:500], event.id),
                    )
                    break
                sent.append(event.id)
            if sent:
                await conn.execute(
                    "UPDATE micro_outbox SET published_at = clock_timestamp(),"
                    " attempts = attempts + 1, last_error = NULL WHERE id = ANY(%s)",
                    (sent,),
                )
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + PRUNE_INTERVAL
                    await conn.execute(
                        "DELETE FROM micro_outbox WHERE published_at < now() - %s",
                        (self.retention,),
                    )
        if failure is not None:
            raise failure
        return len(sent)

    async def wait_for_new(self) -> None:
        """Wait for a NOTIFY on the outbox's channel."""
        listener = await self._listen()
        try:
            async for _ in listener.notifies(stop_after=1):
                pass
        except psycopg.OperationalError as error:
            await self.close()
            raise Unavailable(f"outbox: lost the LISTEN connection: {error}") from error

    async def pending(self) -> int:
        """How many events wait to be sent."""
        async with connection(self.pool) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM micro_outbox WHERE published_at IS NULL"
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()

    async def _listen(self) -> psycopg.AsyncConnection[Any]:
        if self._listener is None or self._listener.closed:
            conninfo = self.pool.conninfo
            if not isinstance(conninfo, str):
                raise TypeError("the outbox listens with the pool's conninfo: give it a string")
            try:
                listener = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            except psycopg.OperationalError as error:
                raise Unavailable(f"outbox: cannot LISTEN: {error}") from error
            await listener.execute(f"LISTEN {CHANNEL}")
            self._listener = listener
        return self._listener
