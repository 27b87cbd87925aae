"""bcrypt hashes, made and checked in a bounded pool of worker threads."""

import asyncio
import os
import threading
import time
from unittest import mock

import bcrypt
import pytest
from user_service.passwords import NICE_INCREMENT, PasswordHasher


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


async def test_at_most_concurrency_hashes_run_at_once() -> None:
    passwords = PasswordHasher(rounds=4, concurrency=2)
    running = 0
    most = 0
    lock = threading.Lock()
    hashpw = bcrypt.hashpw

    def counting_hashpw(password: bytes, salt: bytes) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.02)  # stands for a slow hash: every other one tries to start meanwhile
            return hashpw(password, salt)
        finally:
            with lock:
                running -= 1

    with mock.patch.object(bcrypt, "hashpw", counting_hashpw):
        hashes = await asyncio.gather(*(passwords.hash(f"password {n}") for n in range(8)))
    await passwords.close()

    assert len(set(hashes)) == 8
    assert most == 2


async def test_hashing_threads_yield_to_the_event_loop() -> None:
    passwords = PasswordHasher(rounds=4, concurrency=1)
    hashpw = bcrypt.hashpw
    seen: list[int] = []

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def recording_hashpw(password: bytes, salt: bytes) -> bytes:
        seen.append(nice_of_this_thread())
        return hashpw(password, salt)

    with mock.patch.object(bcrypt, "hashpw", recording_hashpw):
        await passwords.hash("correct horse")
    await passwords.close()

    assert seen == [min(19, nice_of_this_thread() + NICE_INCREMENT)]


def test_a_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency must be 1 or more, not 0"):
        PasswordHasher(rounds=4, concurrency=0)
