"""`consignment-service` refuses a bad configuration in one line, before it starts
(what the runner does with every kind of error: shared/kit/tests/test_runner.py)."""

from devstack.testing import run_module


def test_without_a_database_url_it_exits_2_and_says_so() -> None:
    result = run_module("consignment_service.main")

    assert (result.returncode, result.stderr) == (
        2,
        "consignment-service: DATABASE_URL is required\n",
    )
