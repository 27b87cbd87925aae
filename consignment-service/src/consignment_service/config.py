"""consignment-service's own settings, read from environment variables.

| variable       | meaning                                              | default  |
|----------------|------------------------------------------------------|----------|
| `DATABASE_URL` | PostgreSQL connection string (libpq URL or key=value) | required |

The micro core reads its own variables (`MICRO_*`, `NATS_URL`): see `micro.config`.
Error messages name the variable but never repeat the database URL, which may
hold a password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from micro.config import required


@dataclass(frozen=True)
class Config:
    database_url: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        return cls(database_url=required(env, "DATABASE_URL"))
