"""email-service's own settings, read from environment variables.

| variable        | meaning                                                  | default                          |
|-----------------|----------------------------------------------------------|----------------------------------|
| `DATABASE_URL`  | PostgreSQL connection string (libpq URL or key=value)    | required                         |
| `SMTP_HOST`     | SMTP server the welcome emails go to                     | `127.0.0.1`                      |
| `SMTP_PORT`     | its port                                                 | `25`                             |
| `SMTP_USERNAME` | login on the SMTP server (set both or neither)           | none                             |
| `SMTP_PASSWORD` | password of that login                                   | none                             |
| `SMTP_TIMEOUT`  | seconds one SMTP conversation may take                   | `30`                             |
| `MAIL_FROM`     | the From: of every email                                 | `Shippy <welcome@shippy.local>`  |

The micro core reads its own variables (`MICRO_*`, `NATS_URL`): see `micro.config`.
One difference: email-service handles one event at a time unless
`MICRO_JETSTREAM_MAX_IN_FLIGHT` says otherwise (`options_from_env`).
Error messages name the variable but never repeat a password or the database
URL, which may hold one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.headerregistry import Address
from email.policy import default as default_policy

from micro import Options
from micro.config import ConfigError, required, seconds, whole_number

DEFAULT_MAIL_FROM = "Shippy <welcome@shippy.local>"
MAX_PORT = 65535


@dataclass(frozen=True)
class Config:
    database_url: str = field(repr=False)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_timeout: float = 30.0
    mail_from: str = DEFAULT_MAIL_FROM

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        username, password = _login(env)
        return cls(
            database_url=required(env, "DATABASE_URL"),
            smtp_host=env.get("SMTP_HOST", "").strip() or cls.smtp_host,
            smtp_port=whole_number(
                env, "SMTP_PORT", cls.smtp_port, minimum=1, maximum=MAX_PORT, what="a port number"
            ),
            smtp_username=username,
            smtp_password=password,
            smtp_timeout=seconds(env, "SMTP_TIMEOUT", cls.smtp_timeout),
            mail_from=_mailbox(env, "MAIL_FROM", cls.mail_from),
        )


def _login(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    username = env.get("SMTP_USERNAME") or None
    password = env.get("SMTP_PASSWORD") or None
    if (username is None) != (password is None):
        missing = "SMTP_PASSWORD" if password is None else "SMTP_USERNAME"
        raise ConfigError(
            f"{missing} is required when the other of SMTP_USERNAME/SMTP_PASSWORD is set"
        )
    return username, password


def _mailbox(env: Mapping[str, str], name: str, default: str) -> str:
    """A From: value such as `Shippy <welcome@shippy.local>`, checked now so a
    bad one stops the service at start, not at its first email."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    header = default_policy.header_factory("From", raw)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if header.defects or len(addresses) != 1 or not addresses[0].domain:
        raise ConfigError(f"{name}={raw!r}: must be one address, e.g. {DEFAULT_MAIL_FROM!r}")
    return raw


def options_from_env(env: Mapping[str, str] | None = None) -> Options:
    """The core's options, with one welcome email sent at a time unless
    MICRO_JETSTREAM_MAX_IN_FLIGHT is set: SMTP cannot take a message back, so
    a process killed after the server took one and before its claim commits
    mails it twice, and each handler in flight is one such window (measured:
    with 16 in flight, the SIGKILL fault test doubled a mail in 3 runs of 5;
    one at a time, in none of 4). Sign-ups, bound by bcrypt, come a few a
    second, far below what one at a time keeps up with (bench/: 30 a second
    end to end)."""
    env = os.environ if env is None else env
    options = Options.from_env(env)
    if env.get("MICRO_JETSTREAM_MAX_IN_FLIGHT", "").strip():
        return options
    return replace(options, jetstream=replace(options.jetstream, max_in_flight=1))
