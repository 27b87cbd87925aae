"""shippy_kit.postgres against a real PostgreSQL: what a repository leans on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from shippy_kit.postgres import Pool, connection, fetch_all, fetch_one, transaction


@dataclass(frozen=True)
class Note:
    id: int
    text: str


@pytest.fixture
async def notes(database_pool: Pool) -> Pool:
    async with connection(database_pool) as conn:
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, text text NOT NULL)")
    return database_pool


async def test_rows_come_back_as_the_class_given(notes: Pool) -> None:
    await fetch_one(notes, Note, "INSERT INTO notes VALUES (1, 'one'), (2, 'two') RETURNING *")

    assert await fetch_one(notes, Note, "SELECT * FROM notes WHERE id = %s", (2,)) == Note(2, "two")
    assert await fetch_one(notes, Note, "SELECT * FROM notes WHERE id = %s", (3,)) is None
    assert await fetch_all(notes, Note, "SELECT * FROM notes ORDER BY id") == [
        Note(1, "one"),
        Note(2, "two"),
    ]


async def test_a_lone_statement_commits_by_itself(notes: Pool) -> None:
    """Connections are in autocommit: nothing is left in a transaction that
    another connection cannot see, and no connection goes back to the pool
    inside one."""
    async with connection(notes) as conn:
        await conn.execute("INSERT INTO notes VALUES (1, 'one')")
        assert conn.info.transaction_status.name == "IDLE"
    async with notes.connection() as first, notes.connection() as second:
        assert first is not second
        cursor = await second.execute("SELECT count(*) FROM notes")
        assert await cursor.fetchone() == (1,)


async def test_inside_a_transaction_the_helpers_join_it(notes: Pool) -> None:
    class Refused(Exception):
        pass

    seen: list[Note] = []

    async def store_then_refuse() -> None:
        async with transaction(notes):
            await fetch_one(notes, Note, "INSERT INTO notes VALUES (1, 'one') RETURNING *")
            seen.extend(await fetch_all(notes, Note, "SELECT * FROM notes"))
            raise Refused

    with pytest.raises(Refused):
        await store_then_refuse()

    assert seen == [Note(1, "one")]  # the transaction's own statements see its rows
    assert await fetch_all(notes, Note, "SELECT * FROM notes") == []  # rolled back together
