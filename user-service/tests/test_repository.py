"""The users table, against a real PostgreSQL database."""

import uuid

import pytest
from user_service.repository import EmailTaken, UserRepository


async def add(repository: UserRepository, email: str, name: str = "Ada") -> uuid.UUID:
    user = await repository.create(
        name=name, company="Engines", email=email, password_hash="$2b$04$not-a-real-hash"
    )
    return user.id


async def test_a_created_user_can_be_read_back(repository: UserRepository) -> None:
    created = await repository.create(
        name="Ada Lovelace",
        company="Analytical Engines",
        email="ada@example.com",
        password_hash="$2b$04$not-a-real-hash",
    )

    assert await repository.get(created.id) == created
    assert created.name == "Ada Lovelace"
    assert created.company == "Analytical Engines"
    assert created.email == "ada@example.com"
    assert created.created_at.tzinfo is not None
    assert not hasattr(created, "password_hash")


async def test_an_unknown_id_reads_as_none(repository: UserRepository) -> None:
    assert await repository.get(uuid.uuid4()) is None


async def test_all_users_come_oldest_first(repository: UserRepository) -> None:
    ids = [await add(repository, f"user{n}@example.com") for n in range(3)]

    users = await repository.get_all()

    assert [user.id for user in users] == ids


async def test_no_users_at_first(repository: UserRepository) -> None:
    assert await repository.get_all() == []


async def test_emails_are_unique_regardless_of_case(repository: UserRepository) -> None:
    await add(repository, "ada@example.com")

    with pytest.raises(EmailTaken):
        await add(repository, "Ada@Example.COM", name="Another Ada")

    assert len(await repository.get_all()) == 1


async def test_credentials_are_found_by_email_in_any_case(repository: UserRepository) -> None:
    user_id = await add(repository, "ada@example.com")

    credentials = await repository.get_credentials("ADA@example.com")

    assert credentials is not None
    assert credentials.user_id == user_id
    assert credentials.password_hash == "$2b$04$not-a-real-hash"
    assert "not-a-real-hash" not in repr(credentials)
    assert await repository.get_credentials("bob@example.com") is None


async def test_creating_the_schema_twice_is_harmless(repository: UserRepository) -> None:
    await add(repository, "ada@example.com")

    await repository.create_schema()

    assert len(await repository.get_all()) == 1
