"""`DatabaseConfig`: the settings of a service that needs only its database."""

from __future__ import annotations

import pytest
from micro.config import ConfigError
from shippy_kit.config import DatabaseConfig


class VesselConfig(DatabaseConfig):
    """A service's own `Config`, declared as vessel-service declares its own."""


def test_the_database_url_comes_from_the_environment() -> None:
    config = VesselConfig.from_env({"DATABASE_URL": "postgresql://shippy@db/shippy"})

    assert config == VesselConfig(database_url="postgresql://shippy@db/shippy")
    assert type(config) is VesselConfig


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": "  "}])
def test_the_database_url_is_required(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is required$"):
        VesselConfig.from_env(env)


def test_the_database_url_stays_out_of_the_repr() -> None:
    config = VesselConfig(database_url="postgresql://shippy:secret@db/shippy")

    assert "secret" not in repr(config)
    assert repr(config).startswith("VesselConfig(")
