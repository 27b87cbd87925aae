"""What the local stack keeps between runs in its var directory, so that data,
URLs and tokens stay valid from one `make run` to the next."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from devstack.ports import free_port, port_in_use


def stable_port(record: Path, preferred: int = 0) -> int:
    """The port recorded in `record` if it is free, else `preferred` if it is
    free, else any free port. Call `record_port` once a server listens on it."""
    try:
        recorded = int(record.read_text().strip())
    except (FileNotFoundError, ValueError):
        recorded = 0
    for candidate in (recorded, preferred):
        if candidate and not port_in_use(candidate):
            return candidate
    return free_port()


def record_port(record: Path, port: int) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(f"{port}\n")


def kept_secret(path: Path) -> str:
    """The secret stored in `path`, created (random, mode 0600) the first time."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
