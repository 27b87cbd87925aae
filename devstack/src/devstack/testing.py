"""Test helpers: running a program as a user would. (Waiting on a condition
with a deadline is `micro.testing.eventually`.)"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest

T = TypeVar("T")
RunCli = Callable[..., Awaitable[tuple[int, str, str]]]


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
