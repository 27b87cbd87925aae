"""The whole stack, as a user sees it, for every test in this folder.

Tests ask for `stack` (see backends.Stack) and for clients of its services;
they never reach into how the stack runs. Which stacks: SHIPPY_TEST_STACKS,
by default `local,compose`: every test runs against the processes `make run`
starts, then against the containers of docker-compose.yml (pytest-docker's
`docker_services`; skipped, saying why, where no Docker engine answers).
A test that needs a capability some stack lacks says so and is skipped there:

    @pytest.mark.needs(backends.SCALING)
    async def test_two_instances_share_the_calls(stack: Stack, users: ...) -> None: ...
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from micro import Client
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2_grpc
from shippy_kit.auth import bearer
from shippy_kit.token_mint import TokenMint

from . import backends
from .backends import ComposeBackend, Stack
from .compose import ComposeError, ComposeProject, docker_unavailable
from .helpers import Account, CreateUser, LogIn, Metadata, connect, signup

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub


COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
COMPOSE_START_TIMEOUT = 600
"""Seconds for the test that builds the images and starts the compose stack
(cold, a few minutes on a busy machine), instead of the usual 120."""
_compose_started = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"needs(capability): skip on stacks that lack it (one of {', '.join(backends.CAPABILITIES)})",
    )
    config.addinivalue_line(
        "markers", "stops_the_stack: stops the shared compose stack, so runs after every other test"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("stops_the_stack") is not None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """The test that starts the compose stack gets the time that takes (pytest-timeout's
    bound covers fixture setup)."""
    if _uses_compose(item) and not item.config.stash.get(_compose_started, False):
        item.add_marker(pytest.mark.timeout(COMPOSE_START_TIMEOUT))
    return (yield)


def _uses_compose(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("stack") == "compose"


@pytest.fixture(scope="session", params=backends.selected())
def stack(request: pytest.FixtureRequest) -> Stack:
    """The running stack; started once per session by its backend."""
    return backends.BACKENDS[request.param](request)


@pytest.fixture(scope="session")
def compose_stack(
    request: pytest.FixtureRequest, compose_project: ComposeProject
) -> ComposeBackend:
    """docker-compose.yml's stack, built and started once by pytest-docker's
    `docker_services` (set up by the docker_* fixtures below) and removed with
    its volumes at the end of the session; skipped when no Docker engine answers."""
    request.config.stash[_compose_started] = True
    started = time.monotonic()
    try:
        request.getfixturevalue("docker_services")  # here, to time it
    except Exception as failed:
        logs = compose_project.run("logs", "--no-color", "--tail", "20", check=False)
        raise ComposeError(f"{failed}\n\nThe containers' last lines:\n{logs}") from None
    took = time.monotonic() - started
    show(
        request.config,
        f"compose: images built and stack healthy in {took:.0f}s "
        f"(docker compose -p {compose_project.name} up --build -d --wait)",
        compose_project.run("images"),
        compose_project.run("ps"),
    )
    return ComposeBackend(compose_project)


def show(config: pytest.Config, *lines: str) -> None:
    """Print on the terminal, past pytest's capturing, so that CI's log has it."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("", *(line.rstrip("\n") for line in lines), sep="\n", file=sys.stderr, flush=True)


# pytest-docker's fixtures, set for docker-compose.yml.


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    """Not `shippy`, the project of `make up`: a user's stack is left alone."""
    return f"shippy-test-{os.getpid()}"


@pytest.fixture(scope="session")
def compose_project(
    docker_compose_file: str,
    docker_compose_project_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ComposeProject]:
    """Free host ports and a key pair of its own (for the `signing_key`
    capability); BCRYPT_ROUNDS=4 keeps password hashing fast, as in the local
    stack. Skips every test that needs it when no Docker engine answers."""
    unavailable = docker_unavailable()
    if unavailable:
        pytest.skip(unavailable)
    mint = TokenMint.new(tmp_path_factory.mktemp("compose-keys"))
    # A throwaway key: readable by the services' user (uid 10001) in the containers.
    mint.private_key_file.chmod(0o644)
    project = ComposeProject.on_free_ports(
        Path(docker_compose_file),
        docker_compose_project_name,
        SHIPPY_JWT_PRIVATE_KEY=str(mint.private_key_file),
        SHIPPY_JWT_PUBLIC_KEYS=str(mint.public_keys_file),
        BCRYPT_ROUNDS="4",
    )
    yield project
    # After docker_services' `down` (it needs this fixture, so ends first), which
    # never comes when its `up` failed: then this one removes what did start.
    project.run("down", "--volumes", check=False)
    project.remove_images()


@pytest.fixture(scope="session")
def docker_compose_command(compose_project: ComposeProject) -> str:
    return compose_project.shell_command


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up --build -d --wait --wait-timeout 300"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes"]


@pytest.fixture(autouse=True)
def _skip_unless_capable(request: pytest.FixtureRequest, stack: Stack) -> None:
    for marker in request.node.iter_markers("needs"):
        for capability in marker.args:
            if capability not in backends.CAPABILITIES:
                raise pytest.UsageError(f"needs({capability!r}): no such capability")
            if capability not in stack.capabilities:
                pytest.skip(f"the {stack.name} stack has no {capability!r} capability")


@pytest.fixture(scope="session")
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with connect(stack) as client:
        yield client


@pytest.fixture(scope="session")
def users(client: Client) -> UserServiceAsyncStub:
    return client.stub(user_pb2_grpc.UserServiceStub, "shippy.user")


@pytest.fixture(scope="session")
def shipping(client: Client) -> ShippingServiceAsyncStub:
    return client.stub(consignment_pb2_grpc.ShippingServiceStub, "shippy.consignment")


@pytest.fixture(scope="session")
def vessels(client: Client) -> VesselServiceAsyncStub:
    return client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")


@pytest.fixture
def create_user(users: UserServiceAsyncStub) -> CreateUser:
    """`await create_user(name=..., email=..., company=...)`: a new user, signed up
    through user-service; every field has a default, the email is unique."""

    async def create(**fields: str) -> Account:
        request = signup(**fields)
        reply = await users.Create(request)
        return Account(
            id=reply.user.id,
            name=reply.user.name,
            email=reply.user.email,
            company=reply.user.company,
            password=request.password,
        )

    return create


@pytest.fixture
async def user(create_user: CreateUser) -> Account:
    """A user of one's own, new for this test."""
    return await create_user()


@pytest.fixture
def log_in(users: UserServiceAsyncStub) -> LogIn:
    """`await log_in(account)`: a token for `account`, as `user-cli login` gets one."""

    async def log_in(account: Account) -> str:
        credentials = user_pb2.AuthRequest(email=account.email, password=account.password)
        return (await users.Auth(credentials)).token

    return log_in


@pytest.fixture
async def token(log_in: LogIn, user: Account) -> str:
    """`user`'s token."""
    return await log_in(user)


@pytest.fixture
def as_admin(stack: Stack) -> Metadata:
    """Call metadata with an admin's token, signed with the stack's key
    (roles are granted in user-service's database: this stands for that)."""
    return bearer(stack.token_mint.token(str(uuid.uuid4()), roles=["admin"]))


@pytest.fixture
def as_operator(stack: Stack) -> Metadata:
    """Call metadata with an operator's token, signed with the stack's key."""
    return bearer(stack.token_mint.token(str(uuid.uuid4()), roles=["operator"]))
