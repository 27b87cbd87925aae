"""No welcome email lost, none sent twice, whatever restarts in the middle.

Each test signs users up straight at user-service while one part of the
stack fails, then waits until every user has mail and nothing is left in
the outbox or the email consumer, and counts: exactly one email per user.
The figures are printed at the end of the run."""

from __future__ import annotations

import asyncio
import time

import grpc.aio
import psycopg
import pytest
from devstack.stack import LocalStack
from grpc_health.v1 import health_pb2, health_pb2_grpc
from micro import Client, Options
from micro.errors import ServiceNotFound
from micro.testing import eventually
from shippy.user.v1 import events_pb2

from .conftest import running_address
from .harness import Signups, every_user_mailed, record

pytestmark = pytest.mark.timeout(240)


def signups_on(stack: LocalStack) -> Signups:
    return Signups(lambda: running_address(stack, "user-service"))


async def test_email_service_killed_mid_burst(fault_stack: LocalStack) -> None:
    started, signups = time.monotonic(), signups_on(fault_stack)
    burst = asyncio.create_task(signups.run(150))
    await signups.until_created(50)

    fault_stack.kill("email-service", len(fault_stack.instances("email-service")) - 1)
    await signups.until_created(100)
    await asyncio.to_thread(fault_stack.start_service, "email-service")
    await burst

    mail = await every_user_mailed(fault_stack, signups)
    figure = record("email-service SIGKILLed mid-burst, started again", signups, mail, started)
    assert (figure.created, figure.mailed_once) == (150, 150)
    # SMTP cannot take a message back: a kill after the server took one and
    # before the commit that records it (one commit long) sends it again,
    # with the same Message-ID, which mail clients show once.
    assert figure.doubled <= 1


async def test_user_service_killed_between_commit_and_publish(fault_stack: LocalStack) -> None:
    """An instance that stores events but does not relay them (OUTBOX_RELAY=off)
    stands for one killed right after its commits: its events wait in the
    outbox, and the next instance to start sends each once."""
    started = time.monotonic()
    for index, instance in enumerate(fault_stack.instances("user-service")):
        if instance.returncode is None:
            await asyncio.to_thread(fault_stack.stop_service, "user-service", index)
    storing_only = await asyncio.to_thread(
        fault_stack.start_service, "user-service", {"OUTBOX_RELAY": "off"}
    )
    signups = Signups(lambda: storing_only.address)

    await signups.run(20)
    assert await pending_events(fault_stack) == 20
    storing_only.kill()
    await asyncio.to_thread(fault_stack.start_service, "user-service")

    mail = await every_user_mailed(fault_stack, signups)
    figure = record("user-service SIGKILLed between commit and publish", signups, mail, started)
    assert (figure.created, figure.mailed_once) == (20, 20)
    assert figure.doubled == 0


async def test_nats_stopped_and_started_twice_during_500_signups(
    fault_stack: LocalStack,
) -> None:
    assert fault_stack.nats is not None
    nats_server = fault_stack.nats
    started, signups = time.monotonic(), signups_on(fault_stack)
    burst = asyncio.create_task(signups.run(500))
    email_service = running_address(fault_stack, "email-service")
    for outage in (1, 2):
        await signups.until_created(150 * outage)
        nats_server.kill()
        await signups.until_created(150 * outage + 50)  # sign-ups go on without NATS
        await eventually(lambda: health_is(email_service, "NOT_SERVING"), 10)
        await asyncio.to_thread(nats_server.start)
    await burst
    await eventually(lambda: health_is(email_service, "SERVING"), 10)
    async with Client.connect(Options(nats_url=fault_stack.nats_url)) as client:
        await eventually(
            lambda: found(client, "shippy.user"), 15, waiting_for="shippy.user registered again"
        )

    mail = await every_user_mailed(fault_stack, signups, within=180)
    figure = record("NATS SIGKILLed and started again, twice", signups, mail, started)
    assert (figure.created, figure.mailed_once) == (500, 500)
    assert figure.doubled == 0


async def test_smtp_server_down_for_20_seconds_mid_burst(fault_stack: LocalStack) -> None:
    assert fault_stack.smtp is not None
    smtp = fault_stack.smtp
    started, signups = time.monotonic(), signups_on(fault_stack)
    burst = asyncio.create_task(signups.run(150))
    await signups.until_created(50)

    await asyncio.to_thread(smtp.stop)
    outage = asyncio.create_task(asyncio.sleep(20))  # the fault's length, not a wait for anything
    await burst
    await outage
    await asyncio.to_thread(smtp.start)  # same port, same mail folder

    mail = await every_user_mailed(fault_stack, signups, within=180)
    figure = record("SMTP server down for 20 s mid-burst", signups, mail, started)
    assert (figure.created, figure.mailed_once) == (150, 150)
    assert figure.doubled == 0


async def pending_events(stack: LocalStack) -> int:
    async with await psycopg.AsyncConnection.connect(stack.database_url("user-service")) as conn:
        cursor = await conn.execute("SELECT count(*) FROM micro_outbox WHERE published_at IS NULL")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_postgres_restarted_under_load(fault_stack: LocalStack) -> None:
    """Calls while PostgreSQL is away fail UNAVAILABLE within their deadline;
    every user stored has its event, every event its user, and its mail."""
    assert fault_stack.postgres is not None
    postgres = fault_stack.postgres
    started, signups = time.monotonic(), signups_on(fault_stack)
    burst = asyncio.create_task(signups.run(300))
    await signups.until_created(50)

    await asyncio.to_thread(postgres.stop)
    await eventually(lambda: signups.refused.total() >= 8, 30, waiting_for="calls refused")
    await asyncio.to_thread(postgres.start)  # same port, same data
    await burst
    after = Signups(signups.address, prefix=signups.prefix, deadline=10)
    await after.run(20, start=300)

    assert set(signups.refused) == {"UNAVAILABLE"}, signups.refused
    assert len(after.created) == 20, after.refused
    signups.created += after.created
    users, events = await users_and_event_users(fault_stack)
    assert users == events
    mail = await every_user_mailed(fault_stack, signups)
    figure = record(
        f"PostgreSQL stopped and started under load ({signups.refused.total()} calls"
        " UNAVAILABLE meanwhile)",
        signups,
        mail,
        started,
    )
    assert figure.mailed_once == figure.created == 300 + 20 - signups.refused.total()
    assert figure.doubled == 0


async def test_sigterm_to_user_service_under_steady_creates(fault_stack: LocalStack) -> None:
    """A call that got OK is never lost: what the stopping instance committed
    is sent by it or, if it had no time, by the next instance."""
    stopping = len(fault_stack.instances("user-service")) - 1
    target = [fault_stack.address("user-service", stopping)]
    started, signups = time.monotonic(), Signups(lambda: target[0])
    burst = asyncio.create_task(signups.run(300))
    await signups.until_created(50)
    replacement = await asyncio.to_thread(fault_stack.start_service, "user-service")

    target[0] = replacement.address  # new calls go there; those in flight finish or fail
    await asyncio.to_thread(fault_stack.stop_service, "user-service", stopping)
    await burst

    assert set(signups.refused) <= {"UNAVAILABLE", "CANCELLED"}, signups.refused
    users, events = await users_and_event_users(fault_stack)
    assert users == events
    mail = await every_user_mailed(fault_stack, signups)
    figure = record(
        f"SIGTERM to user-service under steady Creates ({signups.refused.total()} refused)",
        signups,
        mail,
        started,
    )
    assert figure.mailed_once == figure.created >= 250
    assert figure.doubled == 0


async def users_and_event_users(stack: LocalStack) -> tuple[set[str], set[str]]:
    """The ids of the stored users, and the user ids the outbox's events name."""
    async with await psycopg.AsyncConnection.connect(stack.database_url("user-service")) as conn:
        users = {
            str(row[0]) for row in await (await conn.execute("SELECT id FROM users")).fetchall()
        }
        cursor = await conn.execute("SELECT data FROM micro_outbox WHERE topic = 'user.created'")
        events = {
            events_pb2.UserCreated.FromString(bytes(row[0])).user_id
            for row in await cursor.fetchall()
        }
    return users, events


async def health_is(address: str, status: str) -> bool:
    return await health(address) == status


async def health(address: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.aio.AioRpcError as error:
            return error.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def found(client: Client, service: str) -> bool:
    try:
        await client.registry.get_service(service)
    except ServiceNotFound:
        return False
    return True
