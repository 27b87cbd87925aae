"""Dead letters: the events a JetStream subscriber gave up on, kept for an operator.

When a handler fails on its last attempt (`MICRO_JETSTREAM_MAX_DELIVER`),
the JetStream broker stores the event in stream `MICRO_DEAD_LETTERS` (file
storage) under subject `micro.dead.<topic>`, with its data and its original
headers, and these besides:

| header                | value                                                   |
|-----------------------|---------------------------------------------------------|
| `Micro-Dead-Topic`    | the topic it was published on                           |
| `Micro-Dead-Queue`    | the queue group whose handler failed (empty: none)      |
| `Micro-Dead-Attempts` | how many times it was delivered                         |
| `Micro-Dead-Error`    | the last error, on one line, at most 300 characters     |

An operator lists them and sends them back (`shippy-dead-letters` does both):

    async with DeadLetters.connect("nats://127.0.0.1:4222") as dead_letters:
        for letter in await dead_letters.list():
            print(letter.event_id, letter.topic, letter.attempts, letter.last_error)
        await dead_letters.replay(event_id)     # or: await dead_letters.replay_all()

A replay publishes the original data and headers (its `Micro-Id` too, so an
idempotent subscriber still knows the event) on the original topic, under a
fresh `Nats-Msg-Id` so that the stream's dedupe window does not drop it,
waits for the stream's acknowledgement, and only then deletes the dead letter.
Every queue group of that topic receives it again.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import RawStreamMsg, StorageType, StreamConfig

from micro.config import NO_LOGIN, JetStreamSettings, NatsLogin
from micro.errors import NotFound, Unavailable
from micro.nats_client import connect

__all__ = [
    "ATTEMPTS",
    "ERROR",
    "QUEUE",
    "STREAM",
    "SUBJECT_PREFIX",
    "TOPIC",
    "DeadLetter",
    "DeadLetters",
    "one_line",
]

log = logging.getLogger(__name__)

STREAM = "MICRO_DEAD_LETTERS"
SUBJECT_PREFIX = "micro.dead"
TOPIC = "Micro-Dead-Topic"
QUEUE = "Micro-Dead-Queue"
ATTEMPTS = "Micro-Dead-Attempts"
ERROR = "Micro-Dead-Error"
MICRO_ID = "Micro-Id"
NATS_MSG_ID = "Nats-Msg-Id"
MAX_ERROR_LENGTH = 300
STREAM_NAME_IN_USE = 10058  # JetStream's err_code: the name exists with other settings


@dataclass(frozen=True)
class DeadLetter:
    """One event in the dead letters: what it was, and why it is there."""

    event_id: str
    """Its `Micro-Id` ("" when it was published without one)."""
    topic: str
    queue: str
    """The queue group whose handler gave up on it ("" for a plain subscriber)."""
    attempts: int
    last_error: str
    sequence: int
    """Its sequence number in the dead-letter stream."""
    time: datetime.datetime
    """When it became a dead letter."""
    data: bytes
    headers: Mapping[str, str]
    """The event's own headers, as published (without the dead-letter ones)."""


class DeadLetters:
    """The dead-letter stream on one NATS connection (the broker's, or one of its own)."""

    def __init__(
        self, nc: Client, settings: JetStreamSettings | None = None, *, request_timeout: float = 5.0
    ) -> None:
        """`request_timeout`: seconds each request to JetStream may take."""
        self.settings = settings or JetStreamSettings()
        self._js = nc.jetstream(timeout=request_timeout)
        self._jsm = nc.jsm(timeout=request_timeout)
        self._stream_ready = False

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        settings: JetStreamSettings | None = None,
        *,
        login: NatsLogin = NO_LOGIN,
        request_timeout: float = 5.0,
    ) -> AsyncIterator[DeadLetters]:
        """Dead letters on a connection of their own, closed at the end of the block."""
        nc = await connect(url, "dead letters", login=login)
        try:
            yield cls(nc, settings, request_timeout=request_timeout)
        finally:
            await nc.close()

    async def put(
        self,
        *,
        topic: str,
        data: bytes,
        headers: Mapping[str, str],
        queue: str,
        attempts: int,
        error: str,
        letter_id: str,
    ) -> None:
        """Store an event as a dead letter and wait until the stream has it.

        `letter_id` names this one failure (say stream, sequence and consumer):
        stored twice, within the dedupe window, it is kept once."""
        await self.ensure_stream()
        own = {k: v for k, v in headers.items() if not _is_dead_letter_or_nats(k)}
        marks = {TOPIC: topic, QUEUE: queue, ATTEMPTS: str(attempts), ERROR: one_line(error)}
        await self._js.publish(
            f"{SUBJECT_PREFIX}.{topic}",
            data,
            headers={**own, **marks, NATS_MSG_ID: letter_id},
        )

    async def list(self) -> builtins.list[DeadLetter]:
        """Every dead letter, oldest first."""
        letters: builtins.list[DeadLetter] = []
        async with _unavailable_on_failure("list the dead letters"):
            sequence = 1
            while True:
                try:
                    raw = await self._jsm.get_msg(
                        STREAM, sequence, subject=f"{SUBJECT_PREFIX}.>", next=True
                    )
                except nats.js.errors.NotFoundError:  # no more, or no stream at all
                    return letters
                letters.append(_dead_letter(raw))
                sequence = (raw.seq or sequence) + 1

    async def replay(self, event_id: str) -> int:
        """Send the dead event `event_id` back to its topic; returns how many
        dead letters it cleared (one per queue group that gave up on it).
        `NotFound` when no dead letter has that id."""
        letters = [letter for letter in await self.list() if letter.event_id == event_id]
        if not letters:
            raise NotFound(f"no dead letter has event id {event_id!r}")
        await self._replay(letters)
        return len(letters)

    async def replay_all(self) -> int:
        """Send every dead event back to its topic; returns how many dead letters it cleared."""
        by_event: dict[str, builtins.list[DeadLetter]] = {}
        for letter in await self.list():
            key = letter.event_id or f"sequence {letter.sequence}"
            by_event.setdefault(key, []).append(letter)
        for letters in by_event.values():
            await self._replay(letters)
        return sum(len(letters) for letters in by_event.values())

    async def _replay(self, letters: builtins.list[DeadLetter]) -> None:
        """Publish the event once (however many groups gave up on it), then
        delete its dead letters."""
        first = letters[0]
        async with _unavailable_on_failure(f"replay event {first.event_id or '(no id)'}"):
            try:
                await self._js.publish(
                    first.topic,
                    first.data,
                    headers={**first.headers, NATS_MSG_ID: f"replay-{uuid.uuid4().hex}"},
                )
            except nats.js.errors.NoStreamResponseError:
                raise Unavailable(
                    f"cannot replay event {first.event_id}: no stream stores topic {first.topic!r}"
                ) from None
            for letter in letters:
                await self._jsm.delete_msg(STREAM, letter.sequence)
        log.info("replayed event %s on topic %s", first.event_id, first.topic)

    async def ensure_stream(self) -> None:
        """Create the dead-letter stream, or bring one made with other settings to these.

        The broker does it when a subscriber starts, long before a dead letter
        needs it: a replicated stream just made answers nothing until it has
        chosen a leader."""
        if self._stream_ready:
            return
        config = StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=self.settings.replicas,
            duplicate_window=self.settings.duplicate_window,
        )
        try:
            await self._jsm.add_stream(config)
        except nats.js.errors.BadRequestError as e:
            if e.err_code != STREAM_NAME_IN_USE:
                raise
            await self._jsm.update_stream(config)
        self._stream_ready = True


def one_line(text: str, limit: int = MAX_ERROR_LENGTH) -> str:
    """`text` on one line (a header value cannot hold a line break), at most `limit` long."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _dead_letter(raw: RawStreamMsg) -> DeadLetter:
    headers = dict(raw.headers or {})
    subject = raw.subject or ""
    try:
        attempts = int(headers.get(ATTEMPTS, "0"))
    except ValueError:
        attempts = 0
    return DeadLetter(
        event_id=headers.get(MICRO_ID, ""),
        topic=headers.get(TOPIC) or subject.removeprefix(f"{SUBJECT_PREFIX}."),
        queue=headers.get(QUEUE, ""),
        attempts=attempts,
        last_error=headers.get(ERROR, ""),
        sequence=raw.seq or 0,
        time=raw.time or datetime.datetime.now(datetime.UTC),
        data=raw.data or b"",
        headers={k: v for k, v in headers.items() if not _is_dead_letter_or_nats(k)},
    )


def _is_dead_letter_or_nats(name: str) -> bool:
    """A header the dead-letter stream or NATS set, not the event's publisher."""
    return name.startswith(("Micro-Dead-", "Nats-"))


@contextlib.asynccontextmanager
async def _unavailable_on_failure(doing: str) -> AsyncIterator[None]:
    """NATS failing (no answer, no JetStream) becomes one `Unavailable` line."""
    try:
        yield
    except nats.errors.NoRespondersError:
        raise Unavailable(f"cannot {doing}: JetStream is not enabled on this server") from None
    except (nats.errors.Error, TimeoutError) as e:
        reason = str(e) or type(e).__name__
        raise Unavailable(f"cannot {doing}: {reason}") from None
