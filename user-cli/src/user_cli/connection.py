"""Reaching the stack: a micro Client over the registry, and plain words when it is not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import nats.errors
from micro import Client, Options
from micro.errors import MicroError, ServiceNotFound

from user_cli.errors import CliError

STACK_HINT = "is the stack running? (make run)"
NATS_CONNECT_TIMEOUT = 2.0


@asynccontextmanager
async def connect(options: Options) -> AsyncIterator[Client]:
    """A client that finds services by name, once NATS is known to answer."""
    if options.registry == "nats":
        await check_nats(options.nats_url)
    async with Client.connect(options) as client:
        yield client


async def check_nats(url: str, *, connect_timeout: float = NATS_CONNECT_TIMEOUT) -> None:
    """Fail at once, in one line, when nothing answers at `url`.

    nats-py's defaults retry an unreachable server for two minutes, logging
    a traceback each time: right for a service, wrong for a command."""
    try:
        connection = await nats.connect(
            url,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # nats-py's least; 0 would mean "forever"
            reconnect_time_wait=0,
            connect_timeout=connect_timeout,
            error_cb=_ignore,
        )
    except (nats.errors.Error, OSError, TimeoutError) as error:
        raise CliError(f"cannot reach NATS at {url}: {STACK_HINT}") from error
    await connection.close()


def describe(error: MicroError) -> str:
    """The line to print for an error the stack answered with."""
    if isinstance(error, ServiceNotFound):
        return f"{error} — {STACK_HINT}"
    return str(error)


async def _ignore(error: Exception) -> None:
    """nats-py reports each failed attempt here; `check_nats` raises instead."""
