import pytest
from micro.config import ConfigError
from vessel_service.config import Config


def test_the_database_url_comes_from_the_environment() -> None:
    config = Config.from_env({"DATABASE_URL": "postgresql://shippy@db/shippy"})

    assert config.database_url == "postgresql://shippy@db/shippy"


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": "  "}])
def test_the_database_url_is_required(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is required"):
        Config.from_env(env)


def test_the_database_url_stays_out_of_the_repr() -> None:
    config = Config(database_url="postgresql://shippy:secret@db/shippy")

    assert "secret" not in repr(config)
