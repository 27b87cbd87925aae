"""Configuration comes from the environment; a bad value names its variable."""

from pathlib import Path

import pytest
from micro.config import ConfigError
from shippy_kit.token_mint import TokenMint
from user_service.config import Config
from user_service.main import build_tokens, main
from user_service.passwords import available_cores

KEY_FILE = "/run/secrets/jwt-private.pem"
DATABASE_URL = "postgresql://shippy:hunter2@db.example:5432/users"


def env(**overrides: str) -> dict[str, str]:
    return {"DATABASE_URL": DATABASE_URL, "JWT_PRIVATE_KEY_FILE": KEY_FILE, **overrides}


def test_defaults_need_only_the_database_and_the_private_key() -> None:
    config = Config.from_env(env())

    assert config.database_url == DATABASE_URL
    assert config.jwt_private_key_file == Path(KEY_FILE)
    assert config.tokens.public_keys_file is None  # its own key only
    assert config.database_timeout == 3.0
    assert (config.tokens.issuer, config.tokens.audience) == ("shippy.user", "shippy")
    assert (config.tokens.leeway, config.tokens.max_ttl) == (30, 86400)
    assert config.jwt_ttl == 3600
    assert config.bcrypt_rounds == 12
    assert config.bcrypt_concurrency == available_cores()


def test_every_setting_can_be_changed() -> None:
    config = Config.from_env(
        env(
            DATABASE_TIMEOUT="0.5",
            JWT_PUBLIC_KEYS_FILE="/keys.json",
            JWT_ISSUER="shippy.test",
            JWT_AUDIENCE="shippy.tests",
            JWT_LEEWAY="2",
            JWT_MAX_TTL="120",
            JWT_TTL="60",
            BCRYPT_ROUNDS="4",
            BCRYPT_CONCURRENCY="3",
        ),
    )

    assert config.database_timeout == 0.5
    assert config.tokens.public_keys_file == Path("/keys.json")
    assert (config.tokens.issuer, config.tokens.audience) == ("shippy.test", "shippy.tests")
    assert (config.tokens.leeway, config.tokens.max_ttl) == (2, 120)
    assert (config.jwt_ttl, config.bcrypt_rounds, config.bcrypt_concurrency) == (60, 4, 3)


def test_repr_hides_the_database_password() -> None:
    text = repr(Config.from_env(env()))

    assert "hunter2" not in text


def test_the_key_files_are_read_when_the_service_is_built(tmp_path: Path) -> None:
    mint = TokenMint.new(tmp_path)
    config = Config.from_env(
        env(
            JWT_PRIVATE_KEY_FILE=str(mint.private_key_file),
            JWT_PUBLIC_KEYS_FILE=str(mint.public_keys_file),
        )
    )

    tokens = build_tokens(config)

    assert tokens.key_id == mint.key_id
    assert tokens.validate(tokens.issue("u1").value).subject == "u1"


def test_a_key_set_without_the_signing_key_is_refused(tmp_path: Path) -> None:
    signing, other = TokenMint.new(tmp_path / "a"), TokenMint.new(tmp_path / "b")
    config = Config.from_env(
        env(
            JWT_PRIVATE_KEY_FILE=str(signing.private_key_file),
            JWT_PUBLIC_KEYS_FILE=str(other.public_keys_file),
        )
    )

    with pytest.raises(ConfigError, match="lacks the public key of JWT_PRIVATE_KEY_FILE"):
        build_tokens(config)


def test_a_missing_private_key_file_names_the_variable(tmp_path: Path) -> None:
    config = Config.from_env(env(JWT_PRIVATE_KEY_FILE=str(tmp_path / "nothing.pem")))

    with pytest.raises(ConfigError, match=r"^JWT_PRIVATE_KEY_FILE=.*nothing.pem: "):
        build_tokens(config)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"DATABASE_TIMEOUT": "soon"}, "DATABASE_TIMEOUT='soon': must be a number of seconds"),
        ({"DATABASE_TIMEOUT": "0"}, "DATABASE_TIMEOUT='0': must be more than 0"),
        ({"JWT_TTL": "an hour"}, "JWT_TTL='an hour': must be a whole number"),
        ({"JWT_TTL": "0"}, "JWT_TTL='0': must be at least 1"),
        ({"JWT_TTL": "90000"}, "JWT_TTL=90000: must be at most JWT_MAX_TTL (86400)"),
        ({"JWT_LEEWAY": "-1"}, "JWT_LEEWAY='-1': must be from 0 to 300"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS='3': must be from 4 to 31"),
        ({"BCRYPT_CONCURRENCY": "0"}, "BCRYPT_CONCURRENCY='0': must be at least 1"),
    ],
)
def test_a_bad_value_names_its_variable(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(env(**variables))

    assert str(raised.value) == message


def test_main_prints_one_line_and_exits_2_on_bad_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.delenv("JWT_PRIVATE_KEY_FILE", raising=False)

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("user-service: JWT_PRIVATE_KEY_FILE is required: a PEM file")
    assert error.count("\n") == 1
