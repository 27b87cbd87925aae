"""A stack of its own for the fault tests, which kill and restart its parts:
NATS, PostgreSQL and SMTP of its own, user-service and email-service, and
JetStream as the broker (as `make run` has it). Tests run one after the
other on it and leave every part running when they end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.stack import LocalStack
from devstack.unprivileged import scratch_dir

from .harness import FIGURES, figures_table

ENV = {
    "BCRYPT_ROUNDS": "4",  # sign-ups as fast as bcrypt allows
    "MICRO_BROKER": "jetstream",
    "MICRO_REGISTER_INTERVAL": "1",
    # A killed email-service's unacknowledged events go to the next one after
    # the ack wait; in-progress acks keep a slow send alive meanwhile.
    "MICRO_JETSTREAM_ACK_WAIT": "5",
}


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "faults-") as var_dir,
        LocalStack(var_dir, env=ENV, services=("user-service", "email-service")) as stack,
    ):
        yield stack


def running_address(stack: LocalStack, service: str) -> str:
    """The address of the newest instance of `service` that still runs."""
    for instance in reversed(stack.instances(service)):
        if instance.returncode is None:
            return instance.address
    return stack.instances(service)[-1].address


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("no welcome email lost: figures")
        terminalreporter.write_line(figures_table())
