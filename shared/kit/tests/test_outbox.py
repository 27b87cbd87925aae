"""The PostgreSQL outbox and the core's relay, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest
from micro.outbox import OutboxRelay
from micro.pubsub import MICRO_ID
from micro.testing import eventually
from shippy_kit.outbox import PostgresOutbox
from shippy_kit.postgres import Pool, transaction


class Sent:
    """A `send` that records what it was given, and fails while told to."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[tuple[str, bytes, dict[str, str]]] = []
        self.failures = failures
        self.calls = 0

    async def __call__(self, topic: str, data: bytes, headers: Mapping[str, str]) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.events.append((topic, data, dict(headers)))

    @property
    def ids(self) -> list[str]:
        return [headers[MICRO_ID] for _, _, headers in self.events]


@pytest.fixture
async def outbox(database_pool: Pool) -> AsyncIterator[PostgresOutbox]:
    outbox = PostgresOutbox(database_pool)
    await outbox.create_schema()
    yield outbox
    await outbox.close()


async def write(outbox: PostgresOutbox, *ids: str) -> None:
    async with transaction(outbox.pool):
        for event_id in ids:
            await outbox.publish("user.created", event_id.encode(), {MICRO_ID: event_id})


async def test_the_relay_sends_pending_events_in_order_once(outbox: PostgresOutbox) -> None:
    await write(outbox, "e1", "e2", "e3")
    send = Sent()

    assert await outbox.relay(send, limit=10) == 3
    assert await outbox.relay(send, limit=10) == 0

    assert send.ids == ["e1", "e2", "e3"]
    assert send.events[0][:2] == ("user.created", b"e1")
    assert await outbox.pending() == 0


async def test_an_event_written_in_a_rolled_back_transaction_is_never_sent(
    outbox: PostgresOutbox,
) -> None:
    async def write_then_fail() -> None:
        async with transaction(outbox.pool):
            await outbox.publish("user.created", b"x", {MICRO_ID: "doomed"})
            raise ValueError("the handler fails after writing")

    with pytest.raises(ValueError, match="fails after writing"):
        await write_then_fail()

    assert await outbox.relay(Sent(), limit=10) == 0


async def test_publishing_outside_a_transaction_is_refused(outbox: PostgresOutbox) -> None:
    with pytest.raises(RuntimeError, match="must be inside `transaction"):
        await outbox.publish("user.created", b"x", {MICRO_ID: "e1"})


async def test_a_failed_send_keeps_that_event_and_the_later_ones_pending(
    outbox: PostgresOutbox,
) -> None:
    await write(outbox, "e1", "e2", "e3")
    first_ok = Sent()
    original = first_ok.__call__

    async def fail_on_second(topic: str, data: bytes, headers: Mapping[str, str]) -> None:
        if headers[MICRO_ID] == "e2":
            raise ConnectionError("broker away")
        await original(topic, data, headers)

    with pytest.raises(ConnectionError):
        await outbox.relay(fail_on_second, limit=10)

    assert first_ok.ids == ["e1"]
    assert await outbox.pending() == 2
    later = Sent()
    assert await outbox.relay(later, limit=10) == 2
    assert later.ids == ["e2", "e3"]


async def test_two_relays_at_once_send_each_event_once(outbox: PostgresOutbox) -> None:
    ids = [f"e{n:03d}" for n in range(200)]
    await write(outbox, *ids)
    other = PostgresOutbox(outbox.pool)  # another instance of the service
    sent_here, sent_there = Sent(), Sent()

    async def drain(box: PostgresOutbox, send: Sent) -> None:
        while await box.relay(send, limit=7):
            pass

    try:
        await asyncio.gather(drain(outbox, sent_here), drain(other, sent_there))
    finally:
        await other.close()

    assert sorted(sent_here.ids + sent_there.ids) == ids


async def test_a_committed_event_wakes_a_waiting_relay(outbox: PostgresOutbox) -> None:
    await outbox.relay(Sent(), limit=10)  # starts listening
    waiting = asyncio.create_task(outbox.wait_for_new())
    await asyncio.sleep(0)
    assert not waiting.done()

    await write(outbox, "e1")

    async with asyncio.timeout(5):
        await waiting


async def test_the_relay_retries_until_the_broker_is_back_and_loses_nothing(
    outbox: PostgresOutbox,
) -> None:
    send = Sent(failures=3)
    relay = OutboxRelay(outbox, send, first_retry_delay=0.01, max_retry_delay=0.05)
    running = asyncio.create_task(relay.run())
    try:
        await write(outbox, "e1", "e2")
        await eventually(lambda: len(send.events) == 2, waiting_for="both events sent")
        await write(outbox, "e3")
        await eventually(lambda: len(send.events) == 3, waiting_for="the third event sent")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    assert send.ids == ["e1", "e2", "e3"]
    assert send.calls == 6  # three refused, then each once
