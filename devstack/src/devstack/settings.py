"""What the local stack uses from outside, and what it starts itself.

`StackSettings()` starts everything itself on free ports: what tests want.
`StackSettings.from_environ(os.environ)` is what `make run` does:

| variable       | when set                                   | when not set                              |
|----------------|--------------------------------------------|-------------------------------------------|
| `NATS_URL`     | used if it answers, else our own there     | nats://127.0.0.1:4222, the same way       |
| `DATABASE_URL` | that server; the services' databases in it | our own PostgreSQL in var/postgres (5433) |
| `SMTP_HOST`    | mail goes there (`SMTP_PORT`, default 25)  | our own SMTP server writing var/mail      |
| `JWT_SECRET`   | user-service signs tokens with it          | a random one kept in var/jwt-secret       |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from micro.config import DEFAULT_NATS_URL

from devstack.ports import port_in_use

PREFERRED_POSTGRES_PORT = 5433  # beside, not on, a PostgreSQL the machine may run
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SettingsError(ValueError):
    """An environment variable cannot be used; the message names it."""


@dataclass(frozen=True)
class StackSettings:
    nats_url: str | None = None
    """A NATS server to use; None: start our own."""
    nats_port: int = 0
    """Port for our own NATS (0: any free one)."""
    database_url: str | None = None
    """A PostgreSQL server (a URL a superuser can create databases with);
    None: start our own."""
    postgres_port: int = 0
    """Port for our own PostgreSQL the first time (0: any free one); later
    runs reuse the port recorded in the var directory, if it is free."""
    smtp_host: str | None = None
    """An SMTP server to send mail to; None: start our own."""
    smtp_port: int = 25
    jwt_secret: str | None = field(default=None, repr=False)
    """The key user-service signs tokens with; None: one kept in the var directory."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StackSettings:
        nats_url = environ.get("NATS_URL", "").strip() or DEFAULT_NATS_URL
        nats_host, nats_port = _host_port("NATS_URL", nats_url, default_port=4222)
        reuse_nats = port_in_use(nats_port, nats_host)
        if not reuse_nats and nats_host not in LOOPBACK:
            raise SettingsError(f"NATS_URL={nats_url}: nothing answers at {nats_host}:{nats_port}")
        return cls(
            nats_url=nats_url if reuse_nats else None,
            nats_port=0 if reuse_nats else nats_port,
            database_url=environ.get("DATABASE_URL", "").strip() or None,
            postgres_port=PREFERRED_POSTGRES_PORT,
            smtp_host=environ.get("SMTP_HOST", "").strip() or None,
            smtp_port=_port("SMTP_PORT", environ.get("SMTP_PORT", "").strip() or "25"),
            jwt_secret=environ.get("JWT_SECRET", "").strip() or None,
        )


def _host_port(name: str, url: str, default_port: int) -> tuple[str, int]:
    first = url.split(",", 1)[0]
    parts = urlsplit(first if "://" in first else f"nats://{first}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise SettingsError(f"{name}={url}: the port is not a number") from None
    return parts.hostname or "127.0.0.1", port


def _port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a port number") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name}={raw!r}: must be from 1 to 65535")
    return port
