"""Waiting on a condition with a deadline, for devstack's blocking code (a
server starting, a process ending, a mail arriving): the one sync twin of
`micro.testing.eventually`, which async code and tests use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.05
"""Seconds between two looks at the condition."""


def wait_until(
    condition: Callable[[], T], within: float, waiting_for: str, *, poll: float = POLL
) -> T:
    """The first truthy result of `condition()`; TimeoutError after `within` seconds.

    What `condition` raises goes through at once: that is how it says
    "this will never happen" (the process it waits for has exited, say)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still waiting for {waiting_for} after {within:g}s")
        time.sleep(poll)
