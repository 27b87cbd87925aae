"""email-service reads its settings from the environment and names the
variable when one is wrong, without repeating a secret."""

from __future__ import annotations

import re

import pytest
from email_service.config import Config, options_from_env
from micro.config import ConfigError

DATABASE = {"DATABASE_URL": "postgresql://shippy:s3cret@db/email"}


def test_only_the_database_is_required() -> None:
    config = Config.from_env(DATABASE)

    assert config.database_url == DATABASE["DATABASE_URL"]
    assert (config.smtp_host, config.smtp_port) == ("127.0.0.1", 25)
    assert (config.smtp_username, config.smtp_password) == (None, None)
    assert config.mail_from == "Shippy <welcome@shippy.local>"


def test_reads_every_variable() -> None:
    config = Config.from_env(
        {
            **DATABASE,
            "SMTP_HOST": "mail.example.com",
            "SMTP_PORT": "2525",
            "SMTP_USERNAME": "shippy",
            "SMTP_PASSWORD": "hunter2",
            "SMTP_TIMEOUT": "7.5",
            "MAIL_FROM": "Ops <ops@example.com>",
        }
    )

    assert (config.smtp_host, config.smtp_port) == ("mail.example.com", 2525)
    assert (config.smtp_username, config.smtp_password) == ("shippy", "hunter2")
    assert config.smtp_timeout == 7.5
    assert config.mail_from == "Ops <ops@example.com>"


def test_secrets_stay_out_of_its_repr() -> None:
    config = Config.from_env({**DATABASE, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2"})

    assert "s3cret" not in repr(config)
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DATABASE_URL is required"),
        ({**DATABASE, "SMTP_PORT": "smtp"}, "SMTP_PORT='smtp': must be a port number"),
        ({**DATABASE, "SMTP_PORT": "70000"}, "SMTP_PORT='70000': must be from 1 to 65535"),
        ({**DATABASE, "SMTP_USERNAME": "shippy"}, "SMTP_PASSWORD is required"),
        ({**DATABASE, "SMTP_PASSWORD": "hunter2"}, "SMTP_USERNAME is required"),
        ({**DATABASE, "SMTP_TIMEOUT": "0"}, "SMTP_TIMEOUT='0': must be more than 0"),
        ({**DATABASE, "MAIL_FROM": "welcome"}, "MAIL_FROM='welcome': must be one address"),
    ],
)
def test_a_wrong_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as error:
        Config.from_env(env)

    assert "s3cret" not in str(error.value)
    assert "hunter2" not in str(error.value)


def test_welcome_emails_are_sent_one_at_a_time_unless_the_core_variable_says() -> None:
    assert options_from_env({}).jetstream.max_in_flight == 1
    assert options_from_env({"MICRO_JETSTREAM_MAX_IN_FLIGHT": "4"}).jetstream.max_in_flight == 4
    assert options_from_env({"MICRO_JETSTREAM_ACK_WAIT": "20"}).jetstream.ack_wait == 20.0
