"""Test helpers: running a program as a user would, in the environment a user
has, against a service found through the NATS registry. (Waiting on a condition
with a deadline is `micro.testing.eventually`.)"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from micro import Options, Service

T = TypeVar("T")
S = TypeVar("S")
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


def stack_environment(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> str:
    """Make this test's environment the one a user has after `make run`:
    NATS_URL, no MICRO_ overrides, no token yet. Returns `nats_url`."""
    for name in ("MICRO_BROKER_ADDRESS", "MICRO_REGISTRY", "MICRO_CLIENT_TIMEOUT", "SHIPPY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NATS_URL", nats_url)
    return nats_url


@asynccontextmanager
async def serving(
    name: str, add_to_server: Callable[[S, Any], None], servicer: S, nats_url: str
) -> AsyncIterator[Service]:
    """`servicer` served by a real micro Service registered as `name` in the
    NATS registry at `nats_url`, where a CLI finds it, until the block ends."""
    service = Service(name, options=Options(registry="nats", broker="nats", nats_url=nats_url))
    service.handle(add_to_server, servicer)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
