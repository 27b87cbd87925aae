"""NATS JetStream: at least once, and what it takes to hold under faults.

Publishing stores the message in a stream and waits for the server's
acknowledgement. The `Micro-Id` header's value is also sent as JetStream's
`Nats-Msg-Id`, so a stream drops an event published twice (an outbox relay
that retries after a lost acknowledgement) within its dedupe window. A topic
that no stream covers gets one, named after the topic ("user.created" ->
"MICRO_user_created"), so neither side has to set streams up beforehand.

Streams keep their messages in files, with the settings below; a stream made
before with other ones is updated to them (except its storage, which
JetStream cannot change: that is logged).

| variable                           | meaning                                          | default |
|------------------------------------|--------------------------------------------------|---------|
| `MICRO_JETSTREAM_REPLICAS`         | copies of each stream: 1 on one server, 3 on a   | `1`     |
|                                    | cluster                                          |         |
| `MICRO_JETSTREAM_DUPLICATE_WINDOW` | seconds a stream remembers an event id to drop   | `3600`  |
|                                    | its duplicates: far longer than the outbox       |         |
|                                    | relay's longest retry delay (30 s), so a long    |         |
|                                    | NATS outage does not let a duplicate through     |         |
| `MICRO_JETSTREAM_ACK_WAIT`         | seconds the server waits for a handler's answer  | `60`    |
|                                    | before it delivers the event again: above the    |         |
|                                    | slowest handler (email-service's SMTP timeout is |         |
|                                    | 30 s); a handler still running after half of it  |         |
|                                    | tells the server so (in-progress), and again     |         |
| `MICRO_JETSTREAM_MAX_DELIVER`      | attempts a failing handler gets (about two       | `12`    |
|                                    | minutes of them with the delays below); after    |         |
|                                    | the last one the event goes to the dead letters  |         |
| `MICRO_JETSTREAM_MAX_IN_FLIGHT`    | handlers of one subscription that run at once,   | `16`    |
|                                    | each acknowledged after it returned: one at a    |         |
|                                    | time, a slow handler (an SMTP server's answer)   |         |
|                                    | holds up every event behind it                   |         |

A subscriber in a queue group reads through a durable consumer named after
the group: each message is handled once per group, the group resumes where
it stopped after a restart, and a group that subscribes for the first time
starts from the beginning of the stream. A subscriber without a group gets an
ephemeral consumer that starts with the next message.

A message is acknowledged only after its handler returned. The ack is not
confirmed: one that is lost (with the connection) leaves the event to be
delivered again after the ack wait, which a handler must take anyway, as
delivery is at least once (email-service's claim of each event id does).
Waiting for the server's confirmation of each ack doubled the core's cost of
handling an event (a request and its reply per event, profiled under
`make bench`) and would not prevent that redelivery.

Up to `max_in_flight` handlers of a subscription run at once: they start
in the order the events arrived and may finish in any order (JetStream
promises no order once an event is delivered again anyway); while all are
busy, the subscription takes no more events from nats-py, so its limits on
pending messages still hold. When the handler raises, the event is
delivered again after a delay that doubles with each attempt (0.1 s, 0.2 s,
... at most 30 s); when it
raises on attempt `max_deliver`, the event goes to the dead letters
(`micro.broker.dead_letters`), is terminated and logged at ERROR with its id:
it is never dropped silently. A handler cancelled by a stop (its bounded wait
ran out) is never acknowledged: its event, and those received but not yet
handled, go back to the server and to another member of the group.

The consumer itself has no delivery limit on the server: a limit there would
drop, silently, an event whose last delivery ended without an answer (the
process was killed, stopped, or the ack wait passed). Those deliveries count
as attempts too; after twice `max_deliver` of them the event goes to the dead
letters without running the handler again, so an event that kills its
handler's process cannot do so forever.

Topics must be literal here (no `*` or `>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, JetStreamManager
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from micro.broker import Message, MessageHandler, new_tuple
from micro.broker.dead_letters import STREAM_NAME_IN_USE, DeadLetters, one_line
from micro.broker.nats import NO_HEADERS
from micro.config import NO_LOGIN, JetStreamSettings, NatsLogin, Options
from micro.errors import Unavailable
from micro.nats_client import connect

__all__ = ["JetStreamBroker", "JetStreamSubscription", "ensure_stream", "stream_name"]

log = logging.getLogger(__name__)

MICRO_ID = "Micro-Id"
NATS_MSG_ID = "Nats-Msg-Id"
FIRST_REDELIVERY_DELAY = 0.1
MAX_REDELIVERY_DELAY = 30.0
UNLIMITED = -1


class JetStreamSubscription:
    def __init__(
        self,
        topic: str,
        queue: str | None,
        handler: MessageHandler,
        *,
        settings: JetStreamSettings,
        dead_letters: DeadLetters,
        on_close: Callable[[JetStreamSubscription], None],
    ) -> None:
        self.topic = topic
        self.queue = queue
        self._handler = handler
        self._settings = settings
        self._dead_letters = dead_letters
        self._on_close = on_close
        self._sub: JetStreamContext.PushSubscription | None = None
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._dispatched: set[asyncio.Task[None]] = set()
        """A task per event being handled, each in a slot."""
        self._running: set[asyncio.Task[None]] = set()
        """Those of them inside the handler: what a stop that ran out of time cancels."""
        self._beats: set[asyncio.Task[None]] = set()
        """In-progress messages being sent for handlers that run long."""
        self._abandoned = False
        """Set when a stop cut the wait for handlers short: hand everything back."""

    async def start(self, js: JetStreamContext, jsm: JetStreamManager, stream: str) -> None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL if self.queue else DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._settings.ack_wait,
            max_deliver=UNLIMITED,
        )
        durable = consumer_name(self.queue) if self.queue else None
        if durable is not None:
            await keep_consumer_to(jsm, stream, durable, config)
        self._sub = await js.subscribe(
            self.topic,
            queue=durable,
            cb=self._dispatch,
            stream=stream,
            manual_ack=True,
            config=config,
        )

    async def unsubscribe(self) -> None:
        """Stop delivery; wait for the messages already received to be handled.

        Cancelled while it waits (a stop's bound ran out), it cancels the
        running handler, and what it had not handled goes back unacknowledged."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        self._on_close(self)
        try:
            # A closing or closed connection delivers nothing more: nothing to drain.
            with contextlib.suppress(nats.errors.Error):
                await sub.drain()  # type: ignore[no-untyped-call]
            await self._all_dispatched()
        except asyncio.CancelledError:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        self._abandoned = True
        for task in self._running:
            task.cancel()  # it hands its event back
        await self._all_dispatched()  # so do those not yet in their handler

    async def _all_dispatched(self) -> None:
        while self._dispatched:
            await asyncio.wait(list(self._dispatched))

    async def _dispatch(self, msg: Msg) -> None:
        """nats-py's callback: it waits for a free slot, then handles the
        event in a task of its own (one that a stop may cancel; nats-py's
        own task, which calls this, is not to be cancelled)."""
        await self._slots.acquire()
        self._dispatched.add(asyncio.create_task(self._handle_in_slot(msg)))

    async def _handle_in_slot(self, msg: Msg) -> None:
        """Handle, then leave the slot and the set (by hand, not in done
        callbacks: each would cost an event loop turn per event)."""
        task = asyncio.current_task()
        try:
            await self._handle(msg)
        finally:
            self._slots.release()
            if task is not None:
                self._dispatched.discard(task)

    async def _handle(self, msg: Msg) -> None:
        if self._abandoned:
            await self._hand_back(msg)
            return
        attempt = msg.metadata.num_delivered
        if attempt > 2 * self._settings.max_deliver:
            await self._bury(msg, attempt, "the handler did not answer its last deliveries")
            return
        try:
            await self._run(
                msg, new_tuple(Message, (msg.subject, msg.data, msg.headers or NO_HEADERS))
            )
        except asyncio.CancelledError:
            await self._hand_back(msg)  # a stop cancelled it
            raise
        except Exception as error:
            await self._failed(msg, attempt, error)
        else:
            await self._ack(msg)

    async def _run(self, msg: Msg, message: Message) -> None:
        """Run the handler; while it runs, tell the server every half ack
        wait that it is still at work, so the event is not sent elsewhere.
        The handler runs in this task, the reminders come from a timer: a
        task of its own and a wait with a timeout took twice the event loop
        turns per event (profiled under `make bench`)."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        every = self._settings.ack_wait / 2
        timer: asyncio.TimerHandle

        def beat() -> None:
            nonlocal timer
            sending = loop.create_task(_in_progress(msg))
            self._beats.add(sending)
            sending.add_done_callback(self._beats.discard)
            timer = loop.call_later(every, beat)

        timer = loop.call_later(every, beat)
        self._running.add(task)
        try:
            await self._handler(message)
        finally:
            self._running.discard(task)
            timer.cancel()

    async def _ack(self, msg: Msg) -> None:
        try:
            await msg.ack()
        except nats.errors.Error as e:
            log.warning(
                "event %s on topic %s: its ack could not be sent (%s); it will be delivered again",
                _event_id(msg),
                msg.subject,
                str(e) or type(e).__name__,
            )

    async def _failed(self, msg: Msg, attempt: int, error: Exception) -> None:
        log.error(
            "handler of topic %s raised on event %s (attempt %d of %d)",
            msg.subject,
            _event_id(msg),
            attempt,
            self._settings.max_deliver,
            exc_info=error,
        )
        if attempt >= self._settings.max_deliver:
            await self._bury(msg, attempt, f"{type(error).__name__}: {error}")
        else:
            await self._nak(
                msg, min(FIRST_REDELIVERY_DELAY * 2 ** (attempt - 1), MAX_REDELIVERY_DELAY)
            )

    async def _bury(self, msg: Msg, attempt: int, error: str) -> None:
        """Move the event to the dead letters, then end its deliveries."""
        metadata = msg.metadata
        try:
            await self._dead_letters.put(
                topic=msg.subject,
                data=msg.data,
                headers=msg.headers or NO_HEADERS,
                queue=self.queue or "",
                attempts=attempt,
                error=error,
                letter_id=f"{metadata.stream}.{metadata.sequence.stream}.{metadata.consumer}",
            )
        except Exception:
            log.exception(
                "event %s on topic %s could not be stored in the dead letters; "
                "delivering it again in %.0f s",
                _event_id(msg),
                msg.subject,
                MAX_REDELIVERY_DELAY,
            )
            await self._nak(msg, MAX_REDELIVERY_DELAY)
            return
        with contextlib.suppress(nats.errors.Error):
            await msg.term()
        log.error(
            "event %s on topic %s moved to the dead letters after %d attempts (queue %s): %s",
            _event_id(msg),
            msg.subject,
            attempt,
            self.queue or "none",
            one_line(error),
        )

    async def _hand_back(self, msg: Msg) -> None:
        """Not handled: the server delivers it again, to this group's next member."""
        log.info("event %s on topic %s handed back unhandled", _event_id(msg), msg.subject)
        await self._nak(msg, None)

    @staticmethod
    async def _nak(msg: Msg, delay: float | None) -> None:
        # Lost with the connection, it is delivered again after the ack wait all the same.
        with contextlib.suppress(nats.errors.Error):
            await msg.nak(delay=delay)


class JetStreamBroker:
    name = "jetstream"

    def __init__(
        self,
        url: str,
        *,
        stream_prefix: str = "MICRO",
        settings: JetStreamSettings | None = None,
        login: NatsLogin = NO_LOGIN,
    ) -> None:
        self.url = url
        self.login = login
        self.stream_prefix = stream_prefix
        self.settings = settings or JetStreamSettings()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._jsm: JetStreamManager | None = None
        self._dead_letters: DeadLetters | None = None
        self._streams: dict[str, str] = {}  # topic -> the stream that stores it
        self._subscriptions: set[JetStreamSubscription] = set()

    @property
    def dead_letters(self) -> DeadLetters:
        """The events this broker's subscribers (and others) gave up on."""
        if self._dead_letters is None:
            raise Unavailable(f"broker {self.name} is not connected: call connect() first")
        return self._dead_letters

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        if self._nc is None:
            self._nc = await connect(self.url, f"broker {self.name}", login=self.login)
            self._js, self._jsm = self._nc.jetstream(), self._nc.jsm()
            self._dead_letters = DeadLetters(self._nc, self.settings)

    async def disconnect(self) -> None:
        nc, self._nc, self._js, self._jsm = self._nc, None, None, None
        self._dead_letters = None
        subscriptions, self._subscriptions = self._subscriptions, set()
        await asyncio.gather(*(s.unsubscribe() for s in subscriptions))
        self._streams.clear()
        if nc is not None and not nc.is_closed:
            await nc.drain()

    async def publish(
        self, topic: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        js, jsm = self._connected()
        sent = dict(headers) if headers else {}
        event_id = sent.get(MICRO_ID)
        if event_id:
            sent.setdefault(NATS_MSG_ID, event_id)  # the stream drops a duplicate of it
        await self._stream_for(topic, jsm)
        try:
            await js.publish(topic, data, headers=sent or None)
        except nats.js.errors.NoStreamResponseError:
            del self._streams[topic]  # deleted since we looked: create it again
            await self._stream_for(topic, jsm)
            await js.publish(topic, data, headers=sent or None)

    async def subscribe(
        self, topic: str, handler: MessageHandler, queue: str | None = None
    ) -> JetStreamSubscription:
        js, jsm = self._connected()
        subscription = JetStreamSubscription(
            topic,
            queue,
            handler,
            settings=self.settings,
            dead_letters=self.dead_letters,
            on_close=self._subscriptions.discard,
        )
        await self.dead_letters.ensure_stream()
        await subscription.start(js, jsm, await self._stream_for(topic, jsm))
        self._subscriptions.add(subscription)
        return subscription

    async def _stream_for(self, topic: str, jsm: JetStreamManager) -> str:
        """The stream that stores `topic`, created or extended if there is none."""
        stream = self._streams.get(topic)
        if stream is None:
            name = stream_name(self.stream_prefix, topic)
            stream = await ensure_stream(jsm, name, topic, self.settings)
            self._streams[topic] = stream
        return stream

    def _connected(self) -> tuple[JetStreamContext, JetStreamManager]:
        if self._js is None or self._jsm is None:
            raise Unavailable(f"broker {self.name} is not connected: call connect() first")
        return self._js, self._jsm


async def ensure_stream(
    jsm: JetStreamManager, name: str, topic: str, settings: JetStreamSettings
) -> str:
    """The name of a stream that covers `topic`, kept to `settings`: one that
    already does, else stream `name`, created for it or (when it holds other
    topics) extended."""
    try:
        found = await jsm.find_stream_name_by_subject(topic)
    except nats.js.errors.NotFoundError:
        pass
    else:
        await keep_stream_to(jsm, (await jsm.stream_info(found)).config, settings)
        return found
    try:
        await jsm.add_stream(
            StreamConfig(
                name=name,
                subjects=[topic],
                storage=StorageType.FILE,
                num_replicas=settings.replicas,
                duplicate_window=settings.duplicate_window,
            )
        )
    except nats.js.errors.BadRequestError as e:
        if e.err_code != STREAM_NAME_IN_USE:
            raise
        config = (await jsm.stream_info(name)).config
        extended = config.evolve(subjects=[*(config.subjects or []), topic])
        await keep_stream_to(jsm, extended, settings, changed=True)
    return name


async def keep_stream_to(
    jsm: JetStreamManager,
    config: StreamConfig,
    settings: JetStreamSettings,
    *,
    changed: bool = False,
) -> None:
    """Update a stream made with other replicas or dedupe window (or `changed`)."""
    window = settings.duplicate_window
    if config.max_age:  # JetStream wants the window within the messages' lifetime
        window = min(window, config.max_age)
    if config.num_replicas != settings.replicas or abs(config.duplicate_window - window) > 0.001:
        changed = True
        log.info(
            "stream %s: replicas %s -> %d, dedupe window %gs -> %gs",
            config.name,
            config.num_replicas,
            settings.replicas,
            config.duplicate_window,
            window,
        )
    if changed:
        await jsm.update_stream(
            config.evolve(num_replicas=settings.replicas, duplicate_window=window)
        )
    if config.storage not in (None, StorageType.FILE):
        log.warning(
            "stream %s keeps its messages in memory (JetStream cannot change a "
            "stream's storage): a server restart loses them; recreate it to keep them on file",
            config.name,
        )


async def keep_consumer_to(
    jsm: JetStreamManager, stream: str, durable: str, wanted: ConsumerConfig
) -> None:
    """Update a durable consumer made with another ack wait or delivery limit."""
    try:
        config = (await jsm.consumer_info(stream, durable)).config
    except nats.js.errors.NotFoundError:
        return  # subscribing creates it
    if config.ack_wait != wanted.ack_wait or config.max_deliver != wanted.max_deliver:
        log.info(
            "consumer %s of stream %s: ack wait %ss -> %ss, max deliver %s -> %s",
            durable,
            stream,
            config.ack_wait,
            wanted.ack_wait,
            config.max_deliver,
            wanted.max_deliver,
        )
        await jsm.add_consumer(
            stream, config.evolve(ack_wait=wanted.ack_wait, max_deliver=wanted.max_deliver)
        )


def stream_name(prefix: str, topic: str) -> str:
    """ "user.created" -> "MICRO_user_created": a stream name cannot hold dots."""
    return f"{prefix}_{consumer_name(topic)}"


def consumer_name(name: str) -> str:
    """`name` with the characters JetStream refuses in names replaced by "_"."""
    return re.sub(r"[^\w-]", "_", name)


def _event_id(msg: Msg) -> str:
    return (msg.headers or NO_HEADERS).get(MICRO_ID, "(no id)")


async def _in_progress(msg: Msg) -> None:
    """Tell the server the event's handler is still at work (lost with the
    connection: the event is delivered again after the ack wait, as any)."""
    with contextlib.suppress(nats.errors.Error):
        await msg.in_progress()


def from_options(options: Options) -> JetStreamBroker:
    """The "jetstream" plugin, on the NATS server at `options.nats_url`."""
    return JetStreamBroker(options.nats_url, settings=options.jetstream, login=options.nats_login)
