"""`vessel-service` refuses a bad configuration in one line, before it starts."""

import pytest
from devstack.testing import run_module


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "vessel-service: DATABASE_URL is required\n", id="no DATABASE_URL"),
        pytest.param(
            {"DATABASE_URL": "postgresql://db/shippy", "MICRO_REGISTRY": "consul"},
            "vessel-service: MICRO_REGISTRY='consul': no registry plugin of that name is installed (installed: memory, nats)\n",
            id="unknown MICRO_REGISTRY",
        ),
    ],
)
def test_a_bad_configuration_exits_with_status_2_and_says_why(
    env: dict[str, str], message: str
) -> None:
    result = run_module("vessel_service.main", **env)

    assert (result.returncode, result.stderr) == (2, message)
