"""`make down` and `make up` on the compose stack: SIGTERM stops every container
within seconds, each by itself (no SIGKILL after the grace period), and the
users in the postgres volume are still there when the stack comes back.

These tests stop the session's compose stack, so they run after every other
test, and start it again first when it is not running.
"""

from __future__ import annotations

import time

import pytest

from . import backends
from .backends import Stack
from .compose import SERVERS, SERVICES, ComposeProject
from .helpers import new_password, run_cli, succeeded, unique_email

pytestmark = [
    pytest.mark.parametrize("stack", ["compose"], indirect=True),
    pytest.mark.skipif(
        "compose" not in backends.selected(), reason="SHIPPY_TEST_STACKS does not name compose"
    ),
    pytest.mark.stops_the_stack,
]

STOP_WITHIN = 10.0
"""Seconds: a service left to its stop_grace_period (10 s) would be SIGKILLed at the end of it."""
KILLED = 137
"""Exit code of a container that Docker had to SIGKILL."""


@pytest.fixture
def project(stack: Stack, compose_project: ComposeProject) -> ComposeProject:
    """The session's compose project, running (`make up`) whatever ran before."""
    compose_project.run("up", "-d", "--wait")
    return compose_project


def test_a_stop_ends_every_container_within_seconds(stack: Stack, project: ComposeProject) -> None:
    started = time.monotonic()
    project.run("stop")  # SIGTERM to every container, as `make down` sends it
    took = time.monotonic() - started

    ended = {c.service: c.exit_code for c in project.containers() if c.state == "exited"}
    assert took < STOP_WITHIN, f"docker compose stop took {took:.1f}s"
    assert sorted(ended) == sorted([*SERVICES, *SERVERS])
    assert [service for service, code in ended.items() if code == KILLED] == []
    assert {service: ended[service] for service in SERVICES} == dict.fromkeys(SERVICES, 0)
    for service in SERVICES:
        (log,) = stack.instance_logs(service)
        assert "received SIGTERM" in log, log
        assert log.rstrip().endswith(" stopped"), log


def test_users_survive_down_and_up(stack: Stack, project: ComposeProject) -> None:
    email, password = unique_email("kept"), new_password()
    created = run_cli(
        stack,
        "user-cli", "create", "--name", "Grace Hopper", "--email", email, "--company", "Navy",
        "--password-stdin", "--json",
        stdin=password,
    )  # fmt: skip
    user_id = succeeded(created).json()["user"]["id"]
    login = run_cli(
        stack, "user-cli", "login", "--email", email, "--password-stdin", stdin=password
    )
    token = succeeded(login).stdout.strip()

    project.run("down")  # make down: the containers go, the volumes stay
    project.run("up", "-d", "--wait")  # make up

    found = run_cli(stack, "user-cli", "get", user_id, "--json", "--token", token)
    assert succeeded(found).json()["user"]["email"] == email
