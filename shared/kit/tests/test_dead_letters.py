"""shippy-dead-letters, run in-process as an operator would, against a real nats-server.

The dead letters are made the way they happen: a JetStream subscriber whose
handler keeps failing. The server's dead-letter stream is shared with other
tests, so each test looks for its own event ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from devstack.testing import RunCli, cli_runner
from micro.broker.jetstream import JetStreamBroker
from micro.config import JetStreamSettings
from micro.testing import eventually
from micro.testing.broker_contract import Inbox, unique_topic
from shippy_kit.dead_letters import main

SETTINGS = JetStreamSettings(ack_wait=30.0, max_deliver=2)


class Mailer(Inbox):
    """A handler that fails while the SMTP server is `down`."""

    def __init__(self) -> None:
        super().__init__(fail_on=lambda message: self.down)
        self.down = True


@pytest.fixture
def run(
    nats_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> RunCli:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.delenv("MICRO_BROKER_ADDRESS", raising=False)
    return cli_runner(main, capsys, monkeypatch)


@pytest.fixture
async def broker(nats_url: str) -> AsyncIterator[JetStreamBroker]:
    broker = JetStreamBroker(nats_url, settings=SETTINGS)
    await broker.connect()
    yield broker
    await broker.disconnect()


async def dead_event(broker: JetStreamBroker, mailer: Mailer) -> tuple[str, str]:
    """(topic, event id) of an event that `mailer` gave up on."""
    topic, event_id = unique_topic(), uuid.uuid4().hex
    await broker.subscribe(topic, mailer, queue="mailers")
    await broker.publish(topic, b"welcome", {"Micro-Id": event_id})

    async def buried() -> bool:
        letters = await broker.dead_letters.list()
        return any(letter.event_id == event_id for letter in letters)

    await eventually(buried, waiting_for=f"event {event_id} in the dead letters")
    return topic, event_id


async def test_list_shows_a_dead_event_with_its_topic_queue_attempts_and_error(
    broker: JetStreamBroker, run: RunCli
) -> None:
    topic, event_id = await dead_event(broker, Mailer())

    code, out, err = await run("list")

    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "TOPIC", "QUEUE", "ATTEMPTS", "LAST", "ERROR"]
    [row] = [row for row in rows if row.startswith(event_id)]
    assert row.split()[:4] == [event_id, topic, "mailers", "2"]
    assert row.endswith("RuntimeError: handler refuses b'welcome'")


async def test_list_json_is_for_scripts(broker: JetStreamBroker, run: RunCli) -> None:
    topic, event_id = await dead_event(broker, Mailer())

    code, out, _ = await run("list", "--json")

    assert code == 0
    listed = json.loads(out)["deadLetters"]  # protobuf's JSON mapping, as every CLI's --json
    [letter] = [letter for letter in listed if letter["eventId"] == event_id]
    assert letter["topic"] == topic
    assert letter["queue"] == "mailers"
    assert letter["attempts"] == 2
    assert letter["lastError"] == "RuntimeError: handler refuses b'welcome'"
    assert int(letter["sequence"]) > 0
    assert letter["time"]


async def test_replay_delivers_the_event_again_and_removes_it(
    broker: JetStreamBroker, run: RunCli
) -> None:
    mailer = Mailer()
    _, event_id = await dead_event(broker, mailer)
    mailer.down = False

    code, out, err = await run("replay", event_id)

    assert (code, err) == (0, "")
    assert out.strip() == f"replayed event {event_id} (1 dead letter)"
    await mailer.wait_until_received(SETTINGS.max_deliver + 1)
    assert mailer.messages[-1].headers["Micro-Id"] == event_id
    _, listed, _ = await run("list")
    assert event_id not in listed


async def test_replay_all_empties_the_dead_letters(broker: JetStreamBroker, run: RunCli) -> None:
    mailer = Mailer()
    _, event_id = await dead_event(broker, mailer)
    mailer.down = False

    code, out, _ = await run("replay", "--all")

    assert code == 0
    assert out.startswith("replayed ")
    await mailer.wait_until_received(SETTINGS.max_deliver + 1)
    _, listed, _ = await run("list")
    assert event_id not in listed


async def test_replaying_an_unknown_event_is_a_one_line_error(run: RunCli) -> None:
    code, out, err = await run("replay", "no-such-event")

    assert code == 1
    assert out == ""
    assert err == "shippy-dead-letters: no dead letter has event id 'no-such-event'\n"


@pytest.mark.parametrize("argv", [(), ("replay",), ("replay", "some-id", "--all"), ("purge",)])
async def test_a_wrong_command_line_is_a_usage_error(run: RunCli, argv: tuple[str, ...]) -> None:
    code, _, err = await run(*argv)

    assert code == 2
    assert "Traceback" not in err
    assert err.strip()


async def test_help_explains_the_commands(run: RunCli) -> None:
    code, out, _ = await run("--help")

    assert code == 0
    for text in ("list", "replay", "--json", "NATS_URL", "MICRO_JETSTREAM_MAX_DELIVER"):
        assert text in out


async def test_no_nats_is_one_line_and_exit_1(run: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")

    code, _, err = await run("list")

    assert code == 1
    assert err == (
        "shippy-dead-letters: cannot reach NATS at nats://127.0.0.1:1: "
        "is the stack running? (make run)\n"
    )
