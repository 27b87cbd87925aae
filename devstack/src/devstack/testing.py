"""Test helpers: waiting on a condition, with a deadline, never a fixed sleep;
running a program as a user would."""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest

T = TypeVar("T")
RunCli = Callable[..., Awaitable[tuple[int, str, str]]]

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


def run_module(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m module` with `env` added to this environment, less its
    MICRO_ and DATABASE_ variables; its output is captured as text."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MICRO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def cli_runner(
    main: Callable[[Sequence[str]], int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> RunCli:
    """Runs a command line's `main(ARGS)` in-process: `await run(*args, stdin=...)`
    returns (exit code, stdout, stderr).

    The command runs in a thread, as it starts its own event loop, while the
    test's loop keeps serving the services it calls."""

    async def run(*argv: str, stdin: io.StringIO | str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
