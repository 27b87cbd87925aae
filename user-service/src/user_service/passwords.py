"""bcrypt hashing, run in a worker thread so that it never blocks the event loop."""

from __future__ import annotations

import asyncio

import bcrypt


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        self._decoy: bytes | None = None

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def verify(self, password: str, hashed: str) -> bool:
        return await asyncio.to_thread(_matches, password.encode(), hashed.encode())

    async def verify_nothing(self, password: str) -> None:
        """Spend as long as `verify` does, for a login whose email is unknown,
        so that the time taken does not tell which emails have an account."""
        if self._decoy is None:
            self._decoy = (await self.hash("decoy password")).encode()
        await asyncio.to_thread(_matches, password.encode(), self._decoy)


def _matches(password: bytes, hashed: bytes) -> bool:
    # bcrypt refuses passwords over 72 bytes; none was ever stored.
    return len(password) <= 72 and bcrypt.checkpw(password, hashed)
