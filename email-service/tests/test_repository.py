"""The sent-mail log: claiming an event id, against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from email_service.repository import SentEmails
from micro.testing import eventually
from shippy_kit.postgres import Pool


async def wait_for_a_lock_wait(pool: Pool, within: float = 5) -> None:
    """Return once some session of this database waits on a lock."""
    async with pool.connection() as conn:

        async def someone_waits() -> bool:
            async with conn.transaction():  # a new snapshot of pg_stat_activity each time
                cursor = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                row = await cursor.fetchone()
            return row is not None and row[0] > 0

        await eventually(someone_waits, within, waiting_for="a session waiting on a lock")


async def test_a_claim_that_ends_well_records_the_event(sent_emails: SentEmails) -> None:
    async with sent_emails.claim("event-1", user_id="user-1", email="ada@example.com") as claimed:
        assert claimed

    assert await sent_emails.is_mailed("event-1")


async def test_an_event_is_claimed_only_once(sent_emails: SentEmails) -> None:
    async with sent_emails.claim("event-1", user_id="user-1", email="ada@example.com"):
        pass

    async with sent_emails.claim("event-1", user_id="user-1", email="ada@example.com") as again:
        assert not again


async def test_a_claim_whose_block_raises_is_released(sent_emails: SentEmails) -> None:
    with pytest.raises(ConnectionError):
        async with sent_emails.claim("event-1", user_id="user-1", email="ada@example.com"):
            raise ConnectionError("SMTP server down")

    assert not await sent_emails.is_mailed("event-1")
    async with sent_emails.claim("event-1", user_id="user-1", email="ada@example.com") as retry:
        assert retry


async def test_a_second_claim_waits_for_the_first_to_end(
    sent_emails: SentEmails, database_pool: Pool
) -> None:
    first_holds = asyncio.Event()
    first_may_end = asyncio.Event()

    async def first() -> bool:
        async with sent_emails.claim("event-1", user_id="u", email="ada@example.com") as claimed:
            first_holds.set()
            await first_may_end.wait()
            return claimed

    async def second() -> bool:
        await first_holds.wait()
        async with sent_emails.claim("event-1", user_id="u", email="ada@example.com") as claimed:
            return claimed

    first_task = asyncio.create_task(first())
    second_task = asyncio.create_task(second())
    await wait_for_a_lock_wait(database_pool)
    assert not second_task.done()

    first_may_end.set()

    assert await first_task is True
    assert await second_task is False
