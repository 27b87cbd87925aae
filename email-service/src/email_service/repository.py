"""The sent-mail log: which `user.created` events already got their email.

SQL only; nothing here knows about SMTP or the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shippy_kit.postgres import Pool, connection, create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_emails (
    event_id text PRIMARY KEY,
    user_id  text NOT NULL,
    email    text NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now()
)
"""

CLAIM = """
INSERT INTO sent_emails (event_id, user_id, email)
VALUES (%s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


class SentEmails:
    """`sent_emails(event_id primary key, user_id, email, sent_at)` in PostgreSQL."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table if it does not exist yet."""
        await create_schema(self._pool, SCHEMA)

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
        async with connection(self._pool) as conn, conn.transaction():
            cursor = await conn.execute(CLAIM, (event_id, user_id, email))
            claimed = await cursor.fetchone() is not None
            yield claimed

    async def is_mailed(self, event_id: str) -> bool:
        async with connection(self._pool) as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM sent_emails WHERE event_id = %s", (event_id,)
            )
            return await cursor.fetchone() is not None
