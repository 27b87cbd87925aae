"""`make run`'s NATS lets in only the stack's logins, each with its
permissions (devstack.nats_auth, docs/security.md): a client without a login
is the CLIs' login, which may look services up and call them, and nothing
more. The services themselves work under it: every other test of this folder
runs on this stack, the journey included."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import nats
import pytest
from devstack.nats_auth import new_seed
from micro.config import NatsLogin
from micro.errors import ServiceNotFound, Unavailable
from micro.nats_client import connect, servers
from micro.registry.nats import QUERY_SUBJECT, WATCH_SUBJECT, NatsRegistry
from nats.aio.client import Client

from .backends import NATS_LOGINS, Stack
from .helpers import run_cli, signup, wait_until

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub

pytestmark = pytest.mark.needs(NATS_LOGINS)


@asynccontextmanager
async def as_the_cli(stack: Stack) -> AsyncIterator[tuple[Client, list[Exception]]]:
    """A plain nats-py connection with no login, as the CLIs connect, and the
    errors the server sends it."""
    errors: list[Exception] = []

    async def collect(error: Exception) -> None:
        errors.append(error)

    connection = await nats.connect(servers(stack.nats_url), error_cb=collect)
    try:
        yield connection, errors
    finally:
        await connection.close()


async def violation(errors: list[Exception], subject: str) -> str:
    """The permissions violation the server reported for a subject that
    begins with `subject` (nats-py says it in lower case)."""

    def reported() -> str | None:
        said = [str(e) for e in errors if f'"{subject.lower()}' in str(e)]
        return said[0] if said else None

    await wait_until(
        lambda: reported() is not None, within=5, waiting_for=f"a violation for {subject}"
    )
    return str(reported())


async def test_the_cli_login_cannot_publish_user_created(stack: Stack) -> None:
    async with as_the_cli(stack) as (connection, errors):
        await connection.publish("user.created", b"a forged event")
        await connection.flush()

        said = await violation(errors, "user.created")

    assert "permissions violation for publish" in said.lower()


async def test_the_cli_login_cannot_register_a_node_nor_answer_a_lookup(stack: Stack) -> None:
    fake = {"name": "shippy.user", "version": "6.6.6", "metadata": {}, "nodes": []}
    lookups = NatsRegistry(stack.nats_url, login=stack.operator_login)
    async with as_the_cli(stack) as (connection, errors):
        await connection.publish(
            WATCH_SUBJECT, json.dumps({"type": "create", "service": fake}).encode()
        )

        async def answer(msg: nats.aio.msg.Msg) -> None:
            await connection.publish(msg.reply, json.dumps([{"service": fake}]).encode())

        await connection.subscribe(QUERY_SUBJECT, cb=answer)
        await connection.flush()
        try:
            with pytest.raises(ServiceNotFound):
                await lookups.get_service(f"shippy.nobody-{uuid.uuid4().hex}")
            said = await violation(errors, WATCH_SUBJECT)
            answered = await violation(errors, "_INBOX.")
        finally:
            await lookups.close()

    assert "permissions violation for publish" in said.lower()
    assert "permissions violation for publish" in answered.lower()


async def test_the_cli_login_cannot_read_what_is_delivered_to_a_service(
    stack: Stack, users: UserServiceAsyncStub
) -> None:
    async with as_the_cli(stack) as (connection, _):
        snooping = await connection.subscribe("_INBOX.>")
        await connection.flush()
        request = signup()
        await users.Create(request)
        stack.wait_for_mail(request.email)  # email-service had the event delivered

        seen = []
        with contextlib.suppress(nats.errors.TimeoutError):
            while True:
                seen.append(await snooping.next_msg(timeout=0.2))

    assert not [m for m in seen if request.email.encode() in m.data]
    assert not [m for m in seen if b'"stream"' in m.data]  # user-service's JetStream acks


async def test_a_wrong_password_says_authorization_violation(stack: Stack) -> None:
    host = stack.nats_url.partition("://")[2]
    with pytest.raises(Unavailable) as refused:
        await connect(f"nats://cli:not-the-password@{host}", "test", connect_timeout=2)

    assert "authorization violation" in str(refused.value)
    assert "not-the-password" not in str(refused.value)


async def test_an_nkey_the_server_does_not_know_is_refused(stack: Stack, tmp_path: Path) -> None:
    seed = tmp_path / "stranger.nk"
    seed.write_text(new_seed())
    with pytest.raises(Unavailable) as refused:
        await connect(stack.nats_url, "test", login=NatsLogin(nkey_seed_file=str(seed)))

    assert "authorization violation" in str(refused.value)


def test_the_dead_letters_need_the_operators_login(stack: Stack) -> None:
    as_cli = run_cli(stack, "shippy-dead-letters", "list", env={"MICRO_CLIENT_TIMEOUT": "1"})
    seed = stack.operator_login.nkey_seed_file
    assert seed is not None
    as_operator = run_cli(stack, "shippy-dead-letters", "list", env={"NATS_NKEY": seed})

    assert as_cli.exit_code != 0, str(as_cli)
    assert as_operator.exit_code == 0, str(as_operator)
