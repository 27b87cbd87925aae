"""user-service's own settings, read from environment variables.

| variable               | meaning                                                    | default       |
|------------------------|------------------------------------------------------------|---------------|
| `DATABASE_URL`         | PostgreSQL connection string (libpq URL or key=value)      | required      |
| `DATABASE_TIMEOUT`     | seconds a request waits for a connection, then UNAVAILABLE | `3`           |
| `JWT_PRIVATE_KEY_FILE` | PEM file of the Ed25519 key that signs tokens (EdDSA)      | required      |
| `JWT_PUBLIC_KEYS_FILE` | JWKS file of the public keys (current and previous) that   | this key only |
|                        | tokens are checked with; must hold this key's public key   |               |
| `JWT_ISSUER`           | `iss` claim put in and required of every token             | `shippy.user` |
| `JWT_AUDIENCE`         | `aud` claim put in and required of every token             | `shippy`      |
| `JWT_TTL`              | seconds a token stays valid (a whole number)               | `3600`        |
| `JWT_MAX_TTL`          | seconds a token may live at most; JWT_TTL may not exceed it| `86400`       |
| `JWT_LEEWAY`           | seconds of clock difference allowed on `exp` and `iat`     | `30`          |
| `BCRYPT_ROUNDS`        | bcrypt cost factor, 4 to 31; each step doubles the work    | `12`          |
| `OUTBOX_RELAY`         | `on`: this instance publishes the outbox's events; `off`:  | `on`          |
|                        | it only stores them (another instance, or a later start,   |               |
|                        | sends them; the crash tests use it to stop between commit  |               |
|                        | and publish)                                               |               |

Without `JWT_PRIVATE_KEY_FILE` the service does not start; `make run` makes
a key pair in var/ (`python -m shippy_kit.tokens new-key` makes or rotates one).
Roles (`admin`, `operator`) are stored per user and granted with
`python -m user_service.roles` (see there); they go into the tokens' `roles` claim.

The micro core reads its own variables (`MICRO_*`, `NATS_URL`): see `micro.config`.
Error messages name the variable but never repeat a secret or the database URL,
which may hold a password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from micro.config import ConfigError, required, seconds, whole_number
from shippy_kit.tokens import TokenSettings

PRIVATE_KEY_VARIABLE = "JWT_PRIVATE_KEY_FILE"
MIN_BCRYPT_ROUNDS = 4
MAX_BCRYPT_ROUNDS = 31


@dataclass(frozen=True)
class Config:
    database_url: str = field(repr=False)
    jwt_private_key_file: Path
    tokens: TokenSettings = field(default_factory=TokenSettings)
    """How tokens are checked: the public keys, issuer, audience, leeway, maximum lifetime."""
    database_timeout: float = 3.0
    jwt_ttl: int = 3600
    bcrypt_rounds: int = 12
    outbox_relay: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        tokens = TokenSettings.from_env(env, public_keys_required=False)
        ttl = whole_number(env, "JWT_TTL", cls.jwt_ttl, minimum=1)
        if ttl > tokens.max_ttl:
            raise ConfigError(f"JWT_TTL={ttl}: must be at most JWT_MAX_TTL ({tokens.max_ttl})")
        return cls(
            database_url=required(env, "DATABASE_URL"),
            jwt_private_key_file=_private_key_file(env),
            tokens=tokens,
            database_timeout=seconds(env, "DATABASE_TIMEOUT", cls.database_timeout),
            jwt_ttl=ttl,
            bcrypt_rounds=whole_number(
                env,
                "BCRYPT_ROUNDS",
                cls.bcrypt_rounds,
                minimum=MIN_BCRYPT_ROUNDS,
                maximum=MAX_BCRYPT_ROUNDS,
            ),
            outbox_relay=_on_off(env, "OUTBOX_RELAY", cls.outbox_relay),
        )


def _private_key_file(env: Mapping[str, str]) -> Path:
    raw = env.get(PRIVATE_KEY_VARIABLE, "").strip()
    if not raw:
        raise ConfigError(
            f"{PRIVATE_KEY_VARIABLE} is required: a PEM file of the Ed25519 key that signs"
            " tokens (python -m shippy_kit.tokens new-key makes one; `make run` keeps one in var/)"
        )
    return Path(raw)


def _on_off(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise ConfigError(f"{name}={raw!r}: must be on or off")
    return raw == "on"
