"""vessel-service's own settings, read from environment variables.

| variable               | meaning                                                 | default       |
|------------------------|---------------------------------------------------------|---------------|
| `DATABASE_URL`         | PostgreSQL connection string (libpq URL or key=value)   | required      |
| `JWT_PUBLIC_KEYS_FILE` | JWKS file of user-service's public keys: every call's   | required      |
|                        | token is checked with them, here, without asking anyone |               |
| `JWT_ISSUER`           | `iss` a token must have                                 | `shippy.user` |
| `JWT_AUDIENCE`         | `aud` a token must have                                 | `shippy`      |
| `JWT_LEEWAY`           | seconds of clock difference allowed on `exp` and `iat`  | `30`          |
| `JWT_MAX_TTL`          | seconds a token may live at most                        | `86400`       |

The token settings are read as `shippy_kit.tokens` says; the micro core's
own variables: see `micro.config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from micro.config import required
from shippy_kit.config import DatabaseConfig
from shippy_kit.tokens import TokenSettings


@dataclass(frozen=True)
class Config(DatabaseConfig):
    """`Config.from_env()` reads vessel-service's settings from the environment."""

    tokens: TokenSettings = field(default_factory=TokenSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        return cls(database_url=required(env, "DATABASE_URL"), tokens=TokenSettings.from_env(env))
