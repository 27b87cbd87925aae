"""Roles are granted by whoever holds the database, with `python -m user_service.roles`."""

from __future__ import annotations

import asyncio

import pytest
from user_service.repository import UserRepository
from user_service.roles import main


async def test_grant_list_and_revoke(
    repository: UserRepository,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await repository.create(name="Ada", company="", email="ada@example.com", password_hash="x")
    monkeypatch.setenv("DATABASE_URL", database_url)

    granted = await _run(["grant", "ADA@example.com", "operator"])
    listed = await _run(["list"])
    revoked = await _run(["revoke", "ada@example.com", "operator"])
    credentials = await repository.get_credentials("ada@example.com")

    assert granted == 0
    assert capsys.readouterr().out.splitlines() == [
        "operator granted to ADA@example.com",
        "ada@example.com  operator",
        "operator revoked from ada@example.com",
    ]
    assert revoked == 0
    assert listed == 0
    assert credentials is not None
    assert credentials.roles == []


async def test_an_unknown_email_is_an_error(
    repository: UserRepository,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    code = await _run(["grant", "nobody@example.com", "admin"])

    assert code == 1
    assert capsys.readouterr().err == "user-roles: no user with email nobody@example.com\n"


def test_only_known_roles_can_be_granted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["grant", "ada@example.com", "captain"])

    assert "invalid choice: 'captain'" in capsys.readouterr().err


async def _run(argv: list[str]) -> int:
    """`main` runs its own event loop: off this test's loop, in a thread."""
    return await asyncio.to_thread(main, argv)
