"""The sent-mail log: which `user.created` events already got their email.

SQL only; nothing here knows about SMTP or the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg_pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_emails (
    event_id text PRIMARY KEY,
    user_id  text NOT NULL,
    email    text NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now()
)
"""

SCHEMA_LOCK = 0x454D_4149_4C53  # any constant: serialises schema creation across replicas

CLAIM = """
INSERT INTO sent_emails (event_id, user_id, email)
VALUES (%s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


class DatabaseUnavailable(Exception):
    """The database cannot be reached."""


def connection_pool(database_url: str, *, max_size: int = 4) -> psycopg_pool.AsyncConnectionPool:
    """A pool, not yet open, that survives the database going away.

    Each connection is checked before it is lent, so one that broke while idle
    (a restart, a failover) is replaced instead of failing an event.
    """
    return psycopg_pool.AsyncConnectionPool(
        database_url,
        open=False,
        min_size=1,
        max_size=max_size,
        timeout=5.0,
        reconnect_timeout=10.0,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
        name="sent_emails",
    )


async def open_pool(pool: psycopg_pool.AsyncConnectionPool, *, connect_timeout: float) -> None:
    """Open the pool and wait for its first connection, or raise `DatabaseUnavailable`."""
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except psycopg_pool.PoolTimeout:
        await pool.close()
        raise DatabaseUnavailable(f"no connection within {connect_timeout:g}s") from None


class SentEmails:
    """`sent_emails(event_id primary key, user_id, email, sent_at)` in PostgreSQL."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table if it does not exist yet."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    @asynccontextmanager
    async def claim(self, event_id: str, *, user_id: str, email: str) -> AsyncIterator[bool]:
        """Claim `event_id` for one sending; yields False when it is already mailed.

        The claim is a row inserted in a transaction that stays open while the
        block runs: if the block returns, the transaction commits and the event
        is recorded as mailed; if it raises (the SMTP server is down), the
        transaction rolls back and the claim is released, so a redelivery sends
        again. A process that dies mid-send loses its connection, which rolls
        back too, so no claim is ever left stuck. A second claim of the same
        id while the first is open waits on the row lock, then yields False if
        the first one committed.
        """
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(CLAIM, (event_id, user_id, email))
            claimed = await cursor.fetchone() is not None
            yield claimed

    async def is_mailed(self, event_id: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM sent_emails WHERE event_id = %s", (event_id,)
            )
            return await cursor.fetchone() is not None
