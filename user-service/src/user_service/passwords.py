"""bcrypt hashing, in a bounded pool of worker threads so that it never
starves the event loop.

A bcrypt hash keeps a core busy for a quarter of a second or so (cost 12),
and sign-ups can ask for many at once. Run in asyncio's default executor,
as many hashes as it has threads (several per core) would share the cores
with the event loop, and every other call to the service (ValidateToken,
Get) would wait behind them. So at most `concurrency` hashes run at once
(`BCRYPT_CONCURRENCY`, by default one per core this process may use), the
rest wait their turn in line, and the hashing threads run at a lower
scheduling priority than the event loop's thread (Linux: a nice value
`NICE_INCREMENT` higher), so that a busy machine still serves the loop first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

T = TypeVar("T")

NICE_INCREMENT = 10
"""How much less priority a hashing thread has than the event loop's thread."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class PasswordHasher:
    def __init__(self, rounds: int, concurrency: int | None = None) -> None:
        concurrency = available_cores() if concurrency is None else concurrency
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
        self._rounds = rounds
        self.concurrency = concurrency
        self._decoy: bytes | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="bcrypt", initializer=_lower_priority
        )

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await self._run(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def verify(self, password: str, hashed: str) -> bool:
        return await self._run(_matches, password.encode(), hashed.encode())

    async def verify_nothing(self, password: str) -> None:
        """Spend as long as `verify` does, for a login whose email is unknown,
        so that the time taken does not tell which emails have an account."""
        if self._decoy is None:
            self._decoy = (await self.hash("decoy password")).encode()
        await self._run(_matches, password.encode(), self._decoy)

    async def close(self) -> None:
        """Let the worker threads end; hashes still waiting in line are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, work: Callable[[bytes, bytes], T], password: bytes, other: bytes) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, password, other)


def _lower_priority() -> None:
    # Linux keeps a nice value per thread; elsewhere the thread keeps the process's.
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + NICE_INCREMENT
        )


def _matches(password: bytes, hashed: bytes) -> bool:
    # bcrypt refuses passwords over 72 bytes; none was ever stored.
    return len(password) <= 72 and bcrypt.checkpw(password, hashed)
