"""Secrets devstack makes once and keeps in the var directory, mode 0600:
PostgreSQL's superuser password, the NATS logins' seeds and password."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class EmptySecret(ValueError):
    """A kept secret's file is there but holds nothing."""


def kept_secret(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret kept in `path`, made with `make()` (mode 0600) if there is
    none yet; and whether it was made now."""
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        pass
    else:
        if not secret:
            raise EmptySecret(f"{path} is empty: remove it, and a new one is made")
        return secret, False
    secret = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(f"{secret}\n")
    return secret, True
