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
| `BCRYPT_CONCURRENCY`   | bcrypt hashes and checks that run at once, at least 1; the | the cores     |
|                        | rest wait in line (see `user_service.passwords`)           | available     |
| `OUTBOX_RELAY`         | `on`: this instance publishes the outbox's events; `off`:  | `on`          |
|                        | it only stores them (another instance, or a later start,   |               |
|                        | sends them; the crash tests use it to stop between commit  |               |
|                        | and publish)                                               |               |

Without `JWT_PRIVATE_KEY_FILE` the service does not start; `make run` makes
a key pair in var/ (`python -m shippy_kit.tokens new-key` makes or rotates one).
Roles (`admin`, `operator`) are stored per user and granted with
`python -m user_service.roles` (see there); they go into the tokens' `roles` claim.

Login attempts (Auth), each a token bucket: refilled at so many a minute,
holding at most the burst; whole numbers of at least 1.

| variable                           | meaning                                    | default |
|------------------------------------|--------------------------------------------|---------|
| `AUTH_EMAIL_ATTEMPTS_PER_MINUTE`   | attempts a minute for one email            | `5`     |
| `AUTH_EMAIL_ATTEMPTS_BURST`        | attempts one email may make at once        | `10`    |
| `AUTH_ADDRESS_ATTEMPTS_PER_MINUTE` | attempts a minute from one client address  | `60`    |
|                                    | (the gRPC peer; an IPv6 client: its /64)   |         |
| `AUTH_ADDRESS_ATTEMPTS_BURST`      | attempts one address may make at once      | `100`   |

Over either limit an attempt is RESOURCE_EXHAUSTED, saying in how many
seconds to retry, before any bcrypt work; the limits are per instance (see
`user_service.limits`), and a client address is what the gRPC server sees
(behind a proxy, the proxy's).

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

from user_service.limits import Rate
from user_service.passwords import available_cores

PRIVATE_KEY_VARIABLE = "JWT_PRIVATE_KEY_FILE"
MIN_BCRYPT_ROUNDS = 4
MAX_BCRYPT_ROUNDS = 31
AUTH_PER_EMAIL = Rate(per_minute=5, burst=10)
AUTH_PER_ADDRESS = Rate(per_minute=60, burst=100)


@dataclass(frozen=True)
class Config:
    database_url: str = field(repr=False)
    jwt_private_key_file: Path
    tokens: TokenSettings = field(default_factory=TokenSettings)
    """How tokens are checked: the public keys, issuer, audience, leeway, maximum lifetime."""
    database_timeout: float = 3.0
    jwt_ttl: int = 3600
    bcrypt_rounds: int = 12
    bcrypt_concurrency: int = field(default_factory=available_cores)
    outbox_relay: bool = True
    auth_per_email: Rate = AUTH_PER_EMAIL
    auth_per_address: Rate = AUTH_PER_ADDRESS

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
            bcrypt_concurrency=whole_number(
                env, "BCRYPT_CONCURRENCY", available_cores(), minimum=1
            ),
            outbox_relay=_on_off(env, "OUTBOX_RELAY", cls.outbox_relay),
            auth_per_email=_rate(env, "AUTH_EMAIL_ATTEMPTS", cls.auth_per_email),
            auth_per_address=_rate(env, "AUTH_ADDRESS_ATTEMPTS", cls.auth_per_address),
        )


def _rate(env: Mapping[str, str], prefix: str, default: Rate) -> Rate:
    """`{prefix}_PER_MINUTE` and `{prefix}_BURST`, whole numbers of at least 1."""
    return Rate(
        per_minute=whole_number(env, f"{prefix}_PER_MINUTE", int(default.per_minute), minimum=1),
        burst=whole_number(env, f"{prefix}_BURST", default.burst, minimum=1),
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
