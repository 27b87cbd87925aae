"""What the integration tests do again and again, written once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from micro import Client, Options
from micro.testing import eventually
from shippy.user.v1 import user_pb2

from .backends import Stack

SAMPLE_CONSIGNMENT = Path(__file__).resolve().parents[2] / "consignment.json"
BIN = Path(sys.executable).parent
"""Where `make install` puts the CLIs: beside this Python."""
CLI_TIMEOUT = 30.0
BCRYPT_PREFIX = "$2b$"
"""How every bcrypt hash starts: must never leave user-service."""


@dataclass(frozen=True)
class Account:
    """A user as the person who signed up knows it, password included."""

    id: str
    name: str
    email: str
    company: str
    password: str


CreateUser = Callable[..., Awaitable[Account]]
"""The `create_user` fixture: `await create_user(name=..., email=..., company=...)`."""
LogIn = Callable[[Account], Awaitable[str]]
"""The `log_in` fixture: `token = await log_in(account)`."""
Metadata = tuple[tuple[str, str], ...]
"""Call metadata, as `shippy_kit.cli.bearer(token)` makes it (the `as_admin` fixture)."""


def unique_email(who: str = "user") -> str:
    return f"{who}-{uuid.uuid4().hex[:12]}@example.com"


def new_password() -> str:
    """Unique, so that finding it anywhere can only mean it leaked."""
    return f"secret-{uuid.uuid4().hex}"


def signup(
    *,
    name: str = "Ada Lovelace",
    email: str | None = None,
    company: str = "Analytical",
    password: str | None = None,
) -> user_pb2.CreateRequest:
    """A valid CreateRequest, with a unique email and password unless given."""
    return user_pb2.CreateRequest(
        name=name,
        email=unique_email() if email is None else email,
        company=company,
        password=new_password() if password is None else password,
    )


@asynccontextmanager
async def connect(stack: Stack) -> AsyncIterator[Client]:
    """A micro client that finds the stack's services through its registry."""
    async with Client.connect(Options(registry="nats", nats_url=stack.nats_url)) as client:
        yield client


@dataclass(frozen=True)
class CliRun:
    """One finished CLI command."""

    command: str
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"$ {self.command}\nexit code {self.exit_code}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


def run_cli(
    stack: Stack,
    program: str,
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CliRun:
    """Run `program` (user-cli, consignment-cli) against `stack`, as a user
    would; `env`: variables added to the stack's."""
    done = subprocess.run(
        [str(BIN / program), *args],
        input=stdin,
        env={**stack.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return CliRun(" ".join([program, *args]), done.returncode, done.stdout, done.stderr)


def succeeded(run: CliRun) -> CliRun:
    """`run`, after checking that the command worked (exit code 0)."""
    assert run.exit_code == 0, str(run)
    return run


wait_until = eventually
"""`await wait_until(condition, within=..., waiting_for=...)`: the core's
`micro.testing.eventually`, under the name these tests have used."""


def sign_up_get_the_welcome_email_log_in_and_ship(stack: Stack) -> None:
    """The README's journey through the CLIs, on whatever stack `stack` is."""
    email, password = unique_email("grace"), new_password()

    created = run_cli(
        stack,
        "user-cli", "create",
        "--name", "Grace Hopper", "--email", email, "--company", "Harvard Mark I",
        "--password-stdin",
        stdin=password,
    )  # fmt: skip
    assert succeeded(created).stdout.startswith("created user ")
    welcome = stack.wait_for_mail(to=email)
    assert welcome["Subject"] == "Welcome to Shippy, Grace Hopper"

    login = run_cli(
        stack, "user-cli", "login", "--email", email, "--password-stdin", stdin=password
    )
    token = succeeded(login).stdout.strip()
    shipped = run_cli(
        stack, "consignment-cli", "create", str(SAMPLE_CONSIGNMENT), "--token", token, "--json"
    )
    consignment = succeeded(shipped).json()["consignment"]
    assert consignment["vesselId"], "the consignment was not put on a vessel"
    listed = run_cli(stack, "consignment-cli", "list", "--token", token, "--json")
    assert [c["id"] for c in succeeded(listed).json()["consignments"]] == [consignment["id"]]


async def request(stack: Stack, subject: str) -> list[dict[str, Any]]:
    """Every answer to a request on `subject` within half a second, with plain nats-py."""
    nc = await nats.connect(stack.nats_url)
    try:
        inbox = nc.new_inbox()
        answers = await nc.subscribe(inbox)
        await nc.publish(subject, b"", reply=inbox)
        found: list[dict[str, Any]] = []
        try:
            while True:
                found.append(json.loads((await answers.next_msg(timeout=0.5)).data))
        except nats.errors.TimeoutError:
            return found
    finally:
        await nc.close()
