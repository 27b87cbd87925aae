"""Configuration comes from the environment; a bad value names its variable."""

import pytest
from micro.config import ConfigError
from user_service.config import Config
from user_service.main import main

SECRET = "s" * 32
DATABASE_URL = "postgresql://shippy:hunter2@db.example:5432/users"


def env(**overrides: str) -> dict[str, str]:
    return {"DATABASE_URL": DATABASE_URL, "JWT_SECRET": SECRET, **overrides}


def test_defaults_need_only_the_database_and_the_secret() -> None:
    config = Config.from_env(env())

    assert config.database_url == DATABASE_URL
    assert config.jwt_secret == SECRET
    assert config.database_timeout == 3.0
    assert config.jwt_issuer == "shippy.user"
    assert config.jwt_ttl == 3600
    assert config.bcrypt_rounds == 12


def test_every_setting_can_be_changed() -> None:
    config = Config.from_env(
        env(DATABASE_TIMEOUT="0.5", JWT_ISSUER="shippy.test", JWT_TTL="60", BCRYPT_ROUNDS="4"),
    )

    assert config.database_timeout == 0.5
    assert (config.jwt_issuer, config.jwt_ttl, config.bcrypt_rounds) == ("shippy.test", 60, 4)


def test_repr_hides_the_secret_and_the_database_password() -> None:
    text = repr(Config.from_env(env()))

    assert SECRET not in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"DATABASE_TIMEOUT": "soon"}, "DATABASE_TIMEOUT='soon': must be a number of seconds"),
        ({"DATABASE_TIMEOUT": "0"}, "DATABASE_TIMEOUT='0': must be more than 0"),
        ({"JWT_SECRET": ""}, "JWT_SECRET is required"),
        ({"JWT_SECRET": "too-short"}, "JWT_SECRET must be at least 32 characters long (it has 9)"),
        ({"JWT_TTL": "an hour"}, "JWT_TTL='an hour': must be a whole number"),
        ({"JWT_TTL": "0"}, "JWT_TTL='0': must be at least 1"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS='3': must be from 4 to 31"),
    ],
)
def test_a_bad_value_names_its_variable(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(env(**variables))

    assert str(raised.value) == message


def test_the_secret_is_never_repeated_in_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(env(JWT_SECRET="my-short-secret"))

    assert "my-short-secret" not in str(raised.value)


def test_main_prints_one_line_and_exits_2_on_bad_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.delenv("JWT_SECRET", raising=False)

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    assert capsys.readouterr().err == "user-service: JWT_SECRET is required\n"
