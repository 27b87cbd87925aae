"""bcrypt hashes, made and checked in a worker thread."""

from user_service.passwords import PasswordHasher


async def test_a_password_matches_its_hash_only() -> None:
    passwords = PasswordHasher(rounds=4)

    hashed = await passwords.hash("correct horse")

    assert hashed.startswith("$2b$04$")
    assert "correct horse" not in hashed
    assert await passwords.verify("correct horse", hashed)
    assert not await passwords.verify("wrong horse", hashed)


async def test_two_hashes_of_one_password_differ() -> None:
    passwords = PasswordHasher(rounds=4)

    assert await passwords.hash("correct horse") != await passwords.hash("correct horse")


async def test_a_password_longer_than_bcrypt_reads_never_matches() -> None:
    passwords = PasswordHasher(rounds=4)
    hashed = await passwords.hash("x" * 72)

    assert not await passwords.verify("x" * 73, hashed)


async def test_checking_against_nothing_takes_a_bcrypt_check() -> None:
    passwords = PasswordHasher(rounds=4)

    await passwords.verify_nothing("any password")
    await passwords.verify_nothing("x" * 100)
