"""`run_service`, every service's `main()`: what goes wrong before the service
serves is one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from micro.config import ConfigError, Options
from micro.errors import Unavailable
from micro.service import Service
from shippy_kit.postgres import DatabaseUnavailable
from shippy_kit.runner import run_service

MEMORY = Options(registry="memory", broker="memory")


def exit_of(
    build_service: Callable[[], Service], capsys: pytest.CaptureFixture[str]
) -> tuple[object, str]:
    """(exit status, stderr) of `run_service("vessel-service", build_service)`."""
    with pytest.raises(SystemExit) as exit:
        run_service("vessel-service", build_service)
    return exit.value.code, capsys.readouterr().err


def failing_to_start(error: Exception) -> Service:
    """A service whose start fails with `error`, as one whose database is down does."""
    service = Service("shippy.vessel", options=MEMORY)

    @service.before_start
    async def open_database() -> None:
        raise error

    return service


def test_a_configuration_error_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def build() -> Service:
        raise ConfigError("DATABASE_URL is required")

    assert exit_of(build, capsys) == (2, "vessel-service: DATABASE_URL is required\n")


def test_an_unknown_plugin_name_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def build() -> Service:
        return Service("shippy.vessel", options=Options.from_env({"MICRO_REGISTRY": "consul"}))

    status, err = exit_of(build, capsys)

    assert status == 2
    assert err.startswith("vessel-service: MICRO_REGISTRY='consul': no registry plugin")
    assert err.count("\n") == 1


def test_unavailable_at_start_exits_1_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    outage = DatabaseUnavailable("connection refused on 127.0.0.1:5432")

    status, err = exit_of(lambda: failing_to_start(outage), capsys)

    assert status == 1
    assert err.endswith(
        "vessel-service: database unavailable: connection refused on 127.0.0.1:5432\n"
    )
    assert "Traceback" not in err


def test_unavailable_without_a_reason_exits_1_with_its_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, err = exit_of(lambda: failing_to_start(Unavailable("vessel registry down")), capsys)

    assert status == 1
    assert err.endswith("vessel-service: vessel registry down\n")
    assert "Traceback" not in err
