"""user-service's own settings, read from environment variables.

| variable           | meaning                                                         | default       |
|--------------------|-----------------------------------------------------------------|---------------|
| `DATABASE_URL`     | PostgreSQL connection string (libpq URL or key=value)           | required      |
| `DATABASE_TIMEOUT` | seconds a request waits for a connection, then fails UNAVAILABLE | `3`           |
| `JWT_SECRET`       | HMAC key that signs tokens (HS256), at least 32 characters      | required      |
| `JWT_ISSUER`       | `iss` claim put in and required of every token                  | `shippy.user` |
| `JWT_TTL`          | seconds a token stays valid (a whole number)                    | `3600`        |
| `BCRYPT_ROUNDS`    | bcrypt cost factor, 4 to 31; each step doubles the work         | `12`          |
| `OUTBOX_RELAY`     | `on`: this instance publishes the outbox's events; `off`: it    | `on`          |
|                    | only stores them (another instance, or a later start, sends     |               |
|                    | them; the crash tests use it to stop between commit and publish)|               |

The micro core reads its own variables (`MICRO_*`, `NATS_URL`): see `micro.config`.
Error messages name the variable but never repeat a secret or the database URL,
which may hold a password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from micro.config import ConfigError, required, seconds, whole_number

MIN_SECRET_LENGTH = 32
MIN_BCRYPT_ROUNDS = 4
MAX_BCRYPT_ROUNDS = 31


@dataclass(frozen=True)
class Config:
    database_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    database_timeout: float = 3.0
    jwt_issuer: str = "shippy.user"
    jwt_ttl: int = 3600
    bcrypt_rounds: int = 12
    outbox_relay: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        return cls(
            database_url=required(env, "DATABASE_URL"),
            jwt_secret=_secret(env, "JWT_SECRET"),
            database_timeout=seconds(env, "DATABASE_TIMEOUT", cls.database_timeout),
            jwt_issuer=env.get("JWT_ISSUER") or cls.jwt_issuer,
            jwt_ttl=whole_number(env, "JWT_TTL", cls.jwt_ttl, minimum=1),
            bcrypt_rounds=whole_number(
                env,
                "BCRYPT_ROUNDS",
                cls.bcrypt_rounds,
                minimum=MIN_BCRYPT_ROUNDS,
                maximum=MAX_BCRYPT_ROUNDS,
            ),
            outbox_relay=_on_off(env, "OUTBOX_RELAY", cls.outbox_relay),
        )


def _secret(env: Mapping[str, str], name: str) -> str:
    value = required(env, name)
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_LENGTH} characters long (it has {len(value)})"
        )
    return value


def _on_off(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise ConfigError(f"{name}={raw!r}: must be on or off")
    return raw == "on"
