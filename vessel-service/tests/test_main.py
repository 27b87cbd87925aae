"""`vessel-service` refuses a bad configuration in one line, before it starts."""

import os
import subprocess
import sys

import pytest


def run_vessel_service(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MICRO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "vessel_service.main"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "vessel-service: DATABASE_URL is required\n", id="no DATABASE_URL"),
        pytest.param(
            {"DATABASE_URL": "postgresql://db/shippy", "MICRO_REGISTRY": "consul"},
            "vessel-service: MICRO_REGISTRY='consul': must be one of nats, memory\n",
            id="unknown MICRO_REGISTRY",
        ),
    ],
)
def test_a_bad_configuration_exits_with_status_2_and_says_why(
    env: dict[str, str], message: str
) -> None:
    result = run_vessel_service(**env)

    assert (result.returncode, result.stderr) == (2, message)
