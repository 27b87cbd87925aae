"""Settings that more than one service reads the same way.

    class Config(DatabaseConfig):  # vessel-service's own settings: its database only
        ...

| variable       | meaning                                               | default  |
|----------------|-------------------------------------------------------|----------|
| `DATABASE_URL` | PostgreSQL connection string (libpq URL or key=value) | required |

The micro core reads its own variables (`MICRO_*`, `NATS_URL`): see `micro.config`.
Error messages name the variable but never repeat the database URL, which may
hold a password; nor does `repr()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from micro.config import required


@dataclass(frozen=True)
class DatabaseConfig:
    """The settings of a service whose only own setting is its database."""

    database_url: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        return cls(database_url=required(env, "DATABASE_URL"))
