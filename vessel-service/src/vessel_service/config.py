"""vessel-service's own settings: only its database, `DATABASE_URL` (required),
read as `shippy_kit.config` says. The micro core's: see `micro.config`."""

from shippy_kit.config import DatabaseConfig


class Config(DatabaseConfig):
    """`Config.from_env()` reads vessel-service's settings from the environment."""
