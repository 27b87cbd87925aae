"""Waiting in tests: on a condition, with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.02
"""Seconds between two looks at the condition."""


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    within: float = 5.0,
    *,
    waiting_for: str = "the condition",
) -> None:
    """Return once `condition()` (sync or async) is true; TimeoutError after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting for {waiting_for} after {within:g}s")
        await asyncio.sleep(POLL)


async def first_success(
    attempt: Callable[[], Awaitable[T]], failure: type[Exception], within: float = 5.0
) -> T:
    """The first result of `attempt()` that does not raise `failure`; after
    `within` seconds the last `failure` is raised."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await attempt()
        except failure:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL)
