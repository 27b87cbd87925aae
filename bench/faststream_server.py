"""FastStream's side of the event benchmarks, in a process of its own.

    python -m bench.faststream_server NATS_URL

A FastStream NatsBroker with two subscribers: one on core NATS and one on
JetStream (a durable push consumer in a queue group, on a file stream of its
own, acknowledged after the handler: FastStream's default ack policy). Each
carries the protobuf `UserCreated` as FastStream documents for protobuf: a
custom decoder that parses the message body, and a handler that takes the
decoded message without casting it (`NoCast`). It runs in its fastest
documented settings: no logging of every message (`logger=None`; the other
variants log nothing per message either) and no FastDepends
(`apply_types=False`: the handler gets the decoded body as it is). With
FastDepends on, each message costs a hop to a worker thread, where it
resolves `NoCast` (and any context parameter, such as `message: NatsMessage`):
that measured about 4,700 events/s against 17,000 here. So the decoder, which
is handed the message anyway, passes the bench's sent-time header on with
the event.
The rounds are reported over the control subject as bench/server.py does,
on a plain nats-py connection.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import NamedTuple

import nats
from faststream import NoCast
from faststream.nats import JStream, NatsBroker
from faststream.nats.message import NatsMessage as DecoderMessage
from shippy.user.v1 import events_pb2

from bench.echo import (
    JS_QUEUE,
    JS_STREAM_FASTSTREAM,
    JS_TOPIC_FASTSTREAM,
    SENT_HEADER,
    TOPIC_FASTSTREAM,
    Round,
    serve_control,
)


class Decoded(NamedTuple):
    event: events_pb2.UserCreated
    sent_ns: str | None


async def decode_user_created(msg: DecoderMessage) -> Decoded:
    return Decoded(events_pb2.UserCreated.FromString(msg.body), msg.headers.get(SENT_HEADER))


def subscribed_broker(url: str, rounds: dict[str, Round]) -> NatsBroker:
    broker = NatsBroker(url, logger=None, apply_types=False)
    core, jetstream = rounds["nats faststream"], rounds["jetstream faststream"]

    @broker.subscriber(TOPIC_FASTSTREAM, decoder=decode_user_created)
    async def on_core(body: NoCast[Decoded]) -> None:
        core.record(body.sent_ns)

    @broker.subscriber(
        JS_TOPIC_FASTSTREAM,
        stream=JStream(JS_STREAM_FASTSTREAM),
        queue=JS_QUEUE,
        decoder=decode_user_created,
    )
    async def on_jetstream(body: NoCast[Decoded]) -> None:
        jetstream.record(body.sent_ns)

    return broker


async def main(url: str) -> None:
    rounds = {"nats faststream": Round(), "jetstream faststream": Round()}
    nc = await nats.connect(url)
    broker = subscribed_broker(url, rounds)
    await broker.start()
    await serve_control(nc, rounds)
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()  # until the client terminates this process
    finally:
        await broker.stop()
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.faststream_server")
    parser.add_argument("nats_url")
    asyncio.run(main(parser.parse_args().nats_url))
