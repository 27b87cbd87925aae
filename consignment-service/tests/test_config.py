"""consignment-service reads its database URL and how to check tokens (the
reading itself is `shippy_kit`'s, tested in shared/kit/tests)."""

from pathlib import Path

import pytest
from consignment_service.config import Config
from micro.config import ConfigError


def test_it_reads_its_database_and_the_public_keys() -> None:
    config = Config.from_env(
        {"DATABASE_URL": "postgresql://db/consignment", "JWT_PUBLIC_KEYS_FILE": "/keys.json"}
    )

    assert config.database_url == "postgresql://db/consignment"
    assert config.tokens.public_keys_file == Path("/keys.json")


def test_without_public_keys_it_does_not_start_and_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=r"^JWT_PUBLIC_KEYS_FILE is required"):
        Config.from_env({"DATABASE_URL": "postgresql://db/consignment"})
