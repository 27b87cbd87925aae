"""A service's `main()`: build it from the environment, run it until SIGTERM.

    def main() -> None:
        run_service("user-service", lambda: build_service(Config.from_env(), Options.from_env()))

What can go wrong before the service serves is one line on stderr, never a
traceback: a bad variable (`ConfigError`) exits 2, something the service
needs at start and cannot reach (its database, say: `Unavailable`) exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import NoReturn

from micro.config import ConfigError
from micro.errors import Unavailable
from micro.service import Service

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_service(program: str, build: Callable[[], Service]) -> None:
    """Run the service `build()` makes until SIGTERM or SIGINT, then stop it gracefully."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        service = build()
    except ConfigError as error:
        _exit(program, str(error), 2)
    try:
        asyncio.run(service.run())
    except Unavailable as error:
        reason = getattr(error, "reason", None)  # a DatabaseUnavailable's cause, for the operator
        _exit(program, f"{error}: {reason}" if reason else str(error), 1)


def _exit(program: str, message: str, status: int) -> NoReturn:
    print(f"{program}: {message}", file=sys.stderr)
    raise SystemExit(status) from None
