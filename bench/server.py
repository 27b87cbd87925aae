"""The benchmark's server process.

    python -m bench.server NATS_URL RAW_PORT [--mqtt MQTT_URL] [--rabbitmq AMQP_URL EXCHANGE]

Serves the same servicer four ways: through the micro core on gRPC (registered
over NATS, wrappers on), through the micro core on the NATS transport, on a
plain grpc.aio server at RAW_PORT, and as a plain nats-py request/reply
responder (on RAW_RPC_SUBJECT, decoding and encoding the protobufs itself). It also subscribes
to the pub/sub topics twice per broker: a typed micro Subscriber (on the
Service's NATS broker, or attached to a JetStreamBroker / MqttBroker /
RabbitMqBroker as a Service with that broker would) and a raw one (nats-py,
nats-py JetStream, aiomqtt, aio-pika),
whose handler parses the protobuf event as an application would.
Each subscriber records the publish-to-handler latency of every message; the
client asks for them over the NATS control subject once it has published a round.
FastStream's subscribers run in a process of their own (bench/faststream_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlsplit

import aio_pika
import aio_pika.abc
import aiomqtt
import grpc
import nats
from micro import EventInfo, Options, Service
from micro.broker.jetstream import JetStreamBroker
from micro.pubsub import Subscriber
from micro_mqtt import MqttBroker
from micro_rabbitmq import RabbitMqBroker
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc

from bench.echo import (
    JS_QUEUE,
    JS_STREAM_RAW,
    JS_TOPIC_RAW,
    JS_TOPIC_TYPED,
    MQTT_TOPIC_RAW,
    RABBITMQ_PREFETCH,
    RAW_RPC_SUBJECT,
    SENT_HEADER,
    SERVICE,
    SERVICE_ON_NATS,
    TOPIC_RAW,
    TOPIC_TYPED,
    EchoUsers,
    Round,
    serve_control,
)


def typed_handler(round: Round) -> Callable[[events_pb2.UserCreated, EventInfo], Awaitable[None]]:
    async def on_event(event: events_pb2.UserCreated, info: EventInfo) -> None:
        round.record(info.headers.get(SENT_HEADER))

    return on_event


async def subscribe_jetstream(
    stack: contextlib.AsyncExitStack, nc: Nats, url: str, rounds: dict[str, Round]
) -> None:
    """Typed: a Subscriber in a queue group on a JetStreamBroker (a durable
    consumer, acknowledged once handled, as email-service's). Raw: a durable
    nats-py push consumer on a file stream of its own, explicit ack after the handler."""
    broker = JetStreamBroker(url)
    await broker.connect()
    stack.push_async_callback(broker.disconnect)
    await Subscriber(JS_TOPIC_TYPED, typed_handler(rounds["jetstream typed"]), JS_QUEUE).attach(
        broker
    )

    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=JS_STREAM_RAW, subjects=[JS_TOPIC_RAW]))
    raw = rounds["jetstream raw"]

    async def on_raw(msg: Msg) -> None:
        events_pb2.UserCreated.FromString(msg.data)  # the work a typed handler gets done
        raw.record((msg.headers or {}).get(SENT_HEADER))
        await msg.ack()

    await js.subscribe(
        JS_TOPIC_RAW, queue=JS_QUEUE, cb=on_raw, stream=JS_STREAM_RAW, manual_ack=True
    )


async def subscribe_mqtt(
    stack: contextlib.AsyncExitStack, url: str, rounds: dict[str, Round]
) -> None:
    """Typed: a Subscriber on an MqttBroker. Raw: one aiomqtt client, QoS 1 as the plugin."""
    broker = MqttBroker(url)
    await broker.connect()
    stack.push_async_callback(broker.disconnect)
    await Subscriber(TOPIC_TYPED, typed_handler(rounds["mqtt typed"])).attach(broker)

    parts = urlsplit(url)
    client = aiomqtt.Client(
        parts.hostname or "127.0.0.1", parts.port or 1883, protocol=aiomqtt.ProtocolVersion.V5
    )
    await stack.enter_async_context(client)
    await client.subscribe(MQTT_TOPIC_RAW, qos=1)
    raw = rounds["mqtt raw"]

    async def receive() -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            events_pb2.UserCreated.FromString(message.payload)  # the work a typed handler gets done
            raw.record(dict(getattr(message.properties, "UserProperty", ())).get(SENT_HEADER))

    task = asyncio.create_task(receive())
    stack.callback(task.cancel)


async def subscribe_rabbitmq(
    stack: contextlib.AsyncExitStack, url: str, exchange_name: str, rounds: dict[str, Round]
) -> None:
    """Typed: a Subscriber on a RabbitMqBroker. Raw: an exclusive queue bound to the
    same exchange, acknowledged after the handler as the plugin's plain subscribers."""
    broker = RabbitMqBroker(url, exchange=exchange_name, prefetch=RABBITMQ_PREFETCH)
    await broker.connect()
    stack.push_async_callback(broker.disconnect)
    await Subscriber(TOPIC_TYPED, typed_handler(rounds["rabbitmq typed"])).attach(broker)

    connection = await aio_pika.connect_robust(url)
    stack.push_async_callback(connection.close)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=RABBITMQ_PREFETCH)
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, TOPIC_RAW)
    raw = rounds["rabbitmq raw"]

    async def on_raw(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():  # acknowledged once handled
            events_pb2.UserCreated.FromString(message.body)
            sent = (message.headers or {}).get(SENT_HEADER)
            raw.record(str(sent) if sent is not None else None)

    await queue.consume(on_raw)


async def main(args: argparse.Namespace) -> None:
    brokers = (
        ["nats", "jetstream"]
        + (["mqtt"] if args.mqtt else [])
        + (["rabbitmq"] if args.rabbitmq else [])
    )
    rounds = {f"{b} {v}": Round() for b in brokers for v in ("raw", "typed")}

    options = Options(registry="nats", broker="nats", nats_url=args.nats_url)
    service = Service(SERVICE, options=options)
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, EchoUsers())
    service.subscriber(TOPIC_TYPED)(typed_handler(rounds["nats typed"]))

    on_nats = Service(SERVICE_ON_NATS, options=replace(options, transport="nats"))
    on_nats.handle(user_pb2_grpc.add_UserServiceServicer_to_server, EchoUsers())
    raw_server = grpc.aio.server()
    user_pb2_grpc.add_UserServiceServicer_to_server(EchoUsers(), raw_server)
    raw_server.add_insecure_port(f"127.0.0.1:{args.raw_port}")

    nc = await nats.connect(args.nats_url)

    async def on_raw(msg: Msg) -> None:
        events_pb2.UserCreated.FromString(msg.data)  # the work a typed handler gets done
        rounds["nats raw"].record((msg.headers or {}).get(SENT_HEADER))

    async def on_raw_rpc(msg: Msg) -> None:
        request = user_pb2.GetRequest.FromString(msg.data)
        response = await EchoUsers().Get(request, None)  # type: ignore[arg-type]
        await msg.respond(response.SerializeToString())

    await nc.subscribe(TOPIC_RAW, cb=on_raw)
    await nc.subscribe(RAW_RPC_SUBJECT, cb=on_raw_rpc)
    await serve_control(nc, rounds)
    await raw_server.start()

    async with contextlib.AsyncExitStack() as stack:
        await subscribe_jetstream(stack, nc, args.nats_url, rounds)
        if args.mqtt:
            await subscribe_mqtt(stack, args.mqtt, rounds)
        if args.rabbitmq:
            await subscribe_rabbitmq(stack, args.rabbitmq[0], args.rabbitmq[1], rounds)

        @service.after_start
        async def announce() -> None:
            print("ready", flush=True)

        await on_nats.start()
        try:
            await service.run()
        finally:
            await on_nats.stop()
            await raw_server.stop(1)
            await nc.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("nats_url")
    parser.add_argument("raw_port", type=int)
    parser.add_argument("--mqtt", metavar="MQTT_URL")
    parser.add_argument("--rabbitmq", nargs=2, metavar=("AMQP_URL", "EXCHANGE"))
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
