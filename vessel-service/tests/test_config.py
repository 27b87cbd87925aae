"""vessel-service reads only its database URL (the reading itself is
`shippy_kit.config`'s, tested in shared/kit/tests/test_config.py)."""

from dataclasses import fields

from vessel_service.config import Config


def test_its_only_setting_is_its_database() -> None:
    config = Config.from_env({"DATABASE_URL": "postgresql://db/vessel", "JWT_SECRET": "s" * 48})

    assert config.database_url == "postgresql://db/vessel"
    assert [f.name for f in fields(config)] == ["database_url"]
