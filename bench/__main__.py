"""Benchmarks of the micro core and Shippy's services against the raw
libraries, a peer framework and their own bounds, in one run.

    python -m bench [--quick] [--only FAMILY] [--rounds N] [--calls N] [--messages N]
                    [--acked-messages N] [--payload BYTES] [--duration S] [--concurrency N] ...

Starts its own nats-server and Mosquitto, one server process (bench/server.py)
that holds the micro core's and the raw libraries' servers and subscribers,
and one for FastStream's (bench/faststream_server.py); this process is the
client. RabbitMQ is the one at RABBITMQ_URL (default
amqp://guest:guest@127.0.0.1:5672/), on a topic exchange of this run's own,
deleted afterwards. Where no mosquitto is installed or no RabbitMQ answers,
that broker's rows are left out, with a line saying why. Then the services'
rows run on the whole stack as `make run` starts it (bench/services.py).

Row families, a function each: unary RPC (`bench_rpc`), unary RPC over NATS
(`bench_rpc_over_nats`), events on core NATS (`bench_nats`), on JetStream
(`bench_jetstream`), on MQTT and RabbitMQ, and the services' (sign-up, token
checks, end to end, footprint, start time).

Unary RPC over NATS is measured three ways, interleaved: raw nats-py
request/reply (a plain responder that parses the request and serializes the
answer: the reference), the micro client calling a service on the NATS
transport (wrappers on: error mapping, request check, call counts, deadline),
and the micro client calling the same servicer over gRPC.

Both sides of a comparison do the same work: the raw pub/sub variant
serializes each UserCreated event before publishing it and parses it in its
handler, as an application using nats-py, aiomqtt or aio-pika directly would,
with the plugin's delivery settings (JetStream: PubAck awaited, explicit ack;
MQTT QoS 1; RabbitMQ publisher confirms, persistent messages, acknowledged
after the handler). The typed variant is a micro Publisher on the broker
plugin and a micro Subscriber; FastStream's is its NatsBroker on both sides.
Variants run interleaved over the rounds so that all see the same machine,
every other round in reverse (A, B, C, C, B, A, ...) so that none always runs
first or right after the same other; the ratio of a row is the median of its per-round
ratios to the reference, with their spread. Throughput counts until the
subscriber has every message, and latency comes from a paced stream.
Prints one Markdown table and writes it, with the machine, the versions and
the date, to bench/RESULTS.md (not with --quick, unless --results says where).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import aio_pika
import aiomqtt
import grpc
import nats
import psutil
import psycopg
from devstack.mosquitto import MISSING as MOSQUITTO_MISSING
from devstack.mosquitto import MosquittoServer, mosquitto_binary
from devstack.nats import NatsServer, nats_server_binary
from devstack.ports import free_port
from faststream.nats import JStream
from faststream.nats import NatsBroker as FastStreamBroker
from micro import Client, Options
from micro.broker import Broker
from micro.broker.jetstream import JetStreamBroker
from micro.broker.nats import NatsBroker
from micro.pubsub import Publisher, new_event_id
from micro_mqtt import MqttBroker
from micro_rabbitmq import DEFAULT_RABBITMQ_URL, RabbitMqBroker
from nats.aio.client import Client as Nats
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc
from user_service.passwords import available_cores

from bench.echo import (
    CONTROL,
    JS_STREAM_FASTSTREAM,
    JS_STREAM_RAW,
    JS_TOPIC_FASTSTREAM,
    JS_TOPIC_RAW,
    JS_TOPIC_TYPED,
    MQTT_TOPIC_RAW,
    RAW_RPC_SUBJECT,
    SENT_HEADER,
    SERVICE,
    SERVICE_ON_NATS,
    TOPIC_FASTSTREAM,
    TOPIC_RAW,
    TOPIC_TYPED,
)
from bench.services import Sizes, run_services
from bench.stats import Result, in_turn, table, timed

Call = Callable[[user_pb2.GetRequest], Awaitable[user_pb2.GetResponse]]
Publish = Callable[[], Awaitable[None]]

EVENT = events_pb2.UserCreated(
    event_id="5b0c8d4e-1f0a-4c1e-9d36-9b1f1d1c2a77",
    user_id="0f8fad5b-d9cb-469f-a165-70867728950e",
    name="Ada Lovelace",
    email="ada@example.com",
    company="Analytical Engines Ltd",
)


def padded_event(size: int) -> events_pb2.UserCreated:
    """EVENT with its company name padded until it serializes to `size` bytes or more."""
    event = events_pb2.UserCreated()
    event.CopyFrom(EVENT)
    event.company += " " * max(0, size - event.ByteSize())
    while event.ByteSize() < size:
        event.company += " "
    return event


async def run_calls(call: Call, calls: int, in_flight: int) -> tuple[float, list[float]]:
    """`calls` unary calls, `in_flight` at a time; elapsed seconds and latencies (µs)."""
    request = user_pb2.GetRequest(id="0f8fad5b-d9cb-469f-a165-70867728950e")
    latencies: list[float] = []
    per_worker = calls // in_flight

    async def worker() -> None:
        for _ in range(per_worker):
            t0 = time.perf_counter_ns()
            await call(request)
            latencies.append((time.perf_counter_ns() - t0) / 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - start, latencies


async def bench_rpc(
    nats_url: str, raw_port: int, calls: int, rounds: int, in_flight: int
) -> list[Result]:
    raw_result = Result(f"unary RPC, {in_flight} in flight", "raw grpc.aio, fixed address", True)
    micro_result = Result(f"unary RPC, {in_flight} in flight", "micro client by name", False)
    options = Options(registry="nats", nats_url=nats_url)
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{raw_port}") as channel,
        Client.connect(options) as client,
    ):
        raw = user_pb2_grpc.UserServiceStub(channel).Get
        micro = client.stub(user_pb2_grpc.UserServiceStub, SERVICE).Get
        for call in (raw, micro):  # warm up connections and caches
            await run_calls(call, min(calls, 200), min(in_flight, 8))
        for n in range(rounds):
            for call, result in in_turn(((raw, raw_result), (micro, micro_result)), n):
                seconds, latencies = await run_calls(call, calls, in_flight)
                result.add(len(latencies), seconds, latencies)
    return [raw_result, micro_result]


NATS_CALLS_FACTOR = 5
"""How many times `calls` the NATS variants make a round at 64 in flight (see below)."""


async def bench_rpc_over_nats(
    nats_url: str, calls: int, rounds: int, in_flight: int
) -> list[Result]:
    """Unary calls over the NATS transport against raw nats-py request/reply
    (and micro over gRPC), interleaved; the reference is raw nats-py."""
    benchmark = f"unary RPC over NATS, {in_flight} in flight"
    results = {
        "raw": Result(benchmark, "raw nats-py request/reply", True),
        "nats": Result(benchmark, "micro client by name, NATS transport", False),
        "grpc": Result(benchmark, "micro client by name, gRPC transport", False),
    }
    options = Options(registry="nats", nats_url=nats_url)
    nc = await nats.connect(nats_url)
    try:
        async with Client.connect(options) as client:

            async def raw(request: user_pb2.GetRequest) -> user_pb2.GetResponse:
                reply = await nc.request(RAW_RPC_SUBJECT, request.SerializeToString(), timeout=5)
                return user_pb2.GetResponse.FromString(reply.data)

            calling: dict[str, Call] = {
                "raw": raw,
                "nats": client.stub(user_pb2_grpc.UserServiceStub, SERVICE_ON_NATS).Get,
                "grpc": client.stub(user_pb2_grpc.UserServiceStub, SERVICE).Get,
            }
            for call in calling.values():  # warm up connections and caches
                await run_calls(call, min(calls, 200), min(in_flight, 8))
            # Many in flight, the NATS variants answer about eight times as
            # fast as gRPC: `calls` took them 80 ms a round, and the rounds'
            # ratios spread 0.66 to 0.96. They get NATS_CALLS_FACTOR times as many.
            many = calls * NATS_CALLS_FACTOR if in_flight > 1 else calls
            counts = {"raw": many, "nats": many, "grpc": calls}
            for n in range(rounds):
                for name, call in in_turn(list(calling.items()), n):
                    seconds, latencies = await run_calls(call, counts[name], in_flight)
                    results[name].add(len(latencies), seconds, latencies)
    finally:
        await nc.close()
    return list(results.values())


async def control(nc: Nats, **command: object) -> dict[str, object]:
    reply = await nc.request(CONTROL, json.dumps(command).encode(), timeout=90)
    result: dict[str, object] = json.loads(reply.data)
    return result


TYPED = "typed Publisher → Subscriber"

NATS_PY_TIMEOUT = 5.0
"""How long nats-py's JetStream publish waits for its PubAck by default."""

PACED_MESSAGES = 500
PACE_SECONDS = 0.001
"""The latency stream: one message a millisecond, far below either variant's capacity."""


async def publish_paced(publish: Publish, count: int) -> None:
    next_at = time.monotonic()
    for _ in range(count):
        await publish()
        next_at += PACE_SECONDS
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def bench_events(
    nc: Nats,
    variants: list[tuple[str, Publish, Result]],
    messages: int,
    rounds: int,
    fewer: Mapping[str, int] = MappingProxyType({}),
) -> list[Result]:
    """Each round runs every variant in turn (raw, typed, then typed, raw, ...); a
    variant is the server's subscriber of that name ("mqtt raw", ...). A
    variant in `fewer` gets `messages` divided by its number a round."""
    paced = min(messages, PACED_MESSAGES)
    for n in range(rounds):
        for variant, publish, result in in_turn(variants, n):
            # Throughput: publish as fast as possible until the handler has them all.
            count = max(1, messages // fewer.get(variant, 1))
            await control(nc, op="start", variant=variant, expected=count)
            start_ns = time.monotonic_ns()
            for _ in range(count):
                await publish()
            reply = await control(nc, op="wait", variant=variant)
            result.add(count, (int(str(reply["last_ns"])) - start_ns) / 1e9, [])
            # Latency: a paced stream, so that no queue builds up in between.
            await control(nc, op="start", variant=variant, expected=paced)
            await publish_paced(publish, paced)
            reply = await control(nc, op="wait", variant=variant)
            result.add(0, 0.0, [float(x) for x in reply["latencies_us"]])  # type: ignore[attr-defined]
    return [result for _, _, result in variants]


def sent_now() -> dict[str, str]:
    return {SENT_HEADER: str(time.monotonic_ns())}


def typed(broker: Broker, topic: str = TOPIC_TYPED) -> Publish:
    publisher = Publisher(topic, events_pb2.UserCreated, broker)

    async def publish_typed() -> None:
        await publisher.publish(EVENT, headers=sent_now())

    return publish_typed


FASTSTREAM = "FastStream NatsBroker, protobuf decoder"


async def bench_nats(
    nc: Nats, faststream: FastStreamBroker, nats_url: str, messages: int, rounds: int
) -> list[Result]:
    name = "publish → handler, core NATS"
    broker = NatsBroker(nats_url)
    await broker.connect()
    to_faststream = faststream.publisher(TOPIC_FASTSTREAM)

    async def publish_raw() -> None:
        await nc.publish(TOPIC_RAW, EVENT.SerializeToString(), headers=sent_now())

    async def publish_faststream() -> None:
        await to_faststream.publish(EVENT.SerializeToString(), headers=sent_now())

    variants = [
        ("nats raw", publish_raw, Result(name, "raw nats-py", True)),
        ("nats typed", typed(broker), Result(name, TYPED)),
        ("nats faststream", publish_faststream, Result(name, FASTSTREAM)),
    ]
    try:
        # FastStream takes 4 s for a round's 40,000 (against 0.7 s): a quarter says as much.
        return await bench_events(nc, variants, messages, rounds, fewer={"nats faststream": 4})
    finally:
        await broker.disconnect()


async def bench_jetstream(
    nc: Nats, faststream: FastStreamBroker, nats_url: str, messages: int, rounds: int
) -> list[Result]:
    """Each publish waits for the stream's PubAck; each subscriber is a durable
    consumer that acknowledges after its handler."""
    name = "publish → handler, JetStream"
    broker = JetStreamBroker(nats_url)
    await broker.connect()
    js = nc.jetstream()
    to_faststream = faststream.publisher(
        JS_TOPIC_FASTSTREAM, stream=JStream(JS_STREAM_FASTSTREAM, declare=False)
    )

    async def publish_raw() -> None:
        await js.publish(
            JS_TOPIC_RAW, EVENT.SerializeToString(), stream=JS_STREAM_RAW, headers=sent_now()
        )

    async def publish_raw_deduped() -> None:
        headers = {**sent_now(), "Nats-Msg-Id": new_event_id()}
        await js.publish(
            JS_TOPIC_RAW, EVENT.SerializeToString(), stream=JS_STREAM_RAW, headers=headers
        )

    async def publish_faststream() -> None:
        # FastStream waits 0.5 s for a PubAck unless told; nats-py (raw and the
        # core) 5 s. The same for all: a stream's fsync can stall past 0.5 s.
        await to_faststream.publish(
            EVENT.SerializeToString(), headers=sent_now(), timeout=NATS_PY_TIMEOUT
        )

    # The core sends each event's id as Nats-Msg-Id, and the stream drops a
    # duplicate of it: work the server does per message (DESIGN.md's dedupe)
    # that the plain reference and FastStream's publisher skip. The second raw
    # row does the same, to show what that costs.
    variants = [
        ("jetstream raw", publish_raw, Result(name, "raw nats-py JetStream", True)),
        (
            "jetstream raw",
            publish_raw_deduped,
            Result(name, "raw nats-py JetStream, with Nats-Msg-Id as the core"),
        ),
        ("jetstream typed", typed(broker, JS_TOPIC_TYPED), Result(name, f"{TYPED}, jetstream")),
        ("jetstream faststream", publish_faststream, Result(name, "FastStream JetStream")),
    ]
    try:
        return await bench_events(nc, variants, messages, rounds)
    finally:
        await broker.disconnect()


async def bench_mqtt(nc: Nats, mqtt_url: str, messages: int, rounds: int) -> list[Result]:
    """QoS 1 on both sides; the sent time travels as an MQTT 5 user property."""
    name = "publish → handler, MQTT 5 (Mosquitto)"
    broker = MqttBroker(mqtt_url)
    await broker.connect()
    parts = urlsplit(mqtt_url)
    client = aiomqtt.Client(
        parts.hostname or "127.0.0.1", parts.port or 1883, protocol=aiomqtt.ProtocolVersion.V5
    )

    async def publish_raw() -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.UserProperty = list(sent_now().items())
        await client.publish(
            MQTT_TOPIC_RAW, EVENT.SerializeToString(), qos=1, properties=properties
        )

    variants = [
        ("mqtt raw", publish_raw, Result(name, "raw aiomqtt", True)),
        ("mqtt typed", typed(broker), Result(name, TYPED, False)),
    ]
    try:
        async with client:
            return await bench_events(nc, variants, messages, rounds)
    finally:
        await broker.disconnect()


async def bench_rabbitmq(
    nc: Nats, amqp_url: str, exchange_name: str, messages: int, rounds: int
) -> list[Result]:
    """On both sides: publisher confirms, persistent messages, one topic exchange
    of this run's own (deleted afterwards, with the plugin's dead-letter ones)."""
    name = "publish → handler, RabbitMQ"
    broker = RabbitMqBroker(amqp_url, exchange=exchange_name)
    await broker.connect()
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )

    async def publish_raw() -> None:
        message = aio_pika.Message(
            EVENT.SerializeToString(),
            headers={SENT_HEADER: str(time.monotonic_ns())},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=TOPIC_RAW)

    variants = [
        ("rabbitmq raw", publish_raw, Result(name, "raw aio-pika", True)),
        ("rabbitmq typed", typed(broker), Result(name, TYPED, False)),
    ]
    try:
        return await bench_events(nc, variants, messages, rounds)
    finally:
        await broker.disconnect()
        await channel.queue_delete(broker.dead_letters)
        for declared in (broker.dead_letters, exchange_name):
            await channel.exchange_delete(declared)
        await connection.close()


async def run_all(args: argparse.Namespace, urls: Urls, raw_port: int) -> list[Result]:
    results: list[Result] = []
    for in_flight in (1, 64) if "rpc" in args.only else ():
        calls = max(in_flight, args.calls // in_flight * in_flight)
        with timed(f"rpc, {in_flight} in flight,"):
            results += await bench_rpc(urls.nats, raw_port, calls, args.rounds, in_flight)
            results += await bench_rpc_over_nats(urls.nats, calls, args.rounds, in_flight)
    nc = await nats.connect(urls.nats)
    faststream = FastStreamBroker(urls.nats, logger=None, apply_types=False)
    try:
        await faststream.start()
        if "nats" in args.only:
            with timed("core NATS"):
                results += await bench_nats(nc, faststream, urls.nats, args.messages, args.rounds)
        if "jetstream" in args.only:
            with timed("JetStream"):
                results += await bench_jetstream(
                    nc, faststream, urls.nats, args.acked_messages, args.rounds
                )
        if urls.mqtt and "mqtt" in args.only:
            with timed("MQTT"):
                results += await bench_mqtt(nc, urls.mqtt, args.acked_messages, args.rounds)
        if urls.amqp and "rabbitmq" in args.only:
            with timed("RabbitMQ"):
                results += await bench_rabbitmq(
                    nc, urls.amqp, urls.exchange, args.acked_messages, args.rounds
                )
    finally:
        await faststream.stop()
        await nc.close()
    return results


@dataclass
class Urls:
    """The servers this run talks to; None for a broker whose rows are left out."""

    nats: str
    mqtt: str | None
    amqp: str | None
    exchange: str = field(default_factory=lambda: f"bench.{uuid.uuid4().hex[:8]}")


def rabbitmq_answering() -> str | None:
    """RABBITMQ_URL (the plugin's default when unset) if a RabbitMQ answers there."""
    url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    parts = urlsplit(url)

    async def connect() -> None:
        connection = await aio_pika.connect(url, timeout=3)
        await connection.close()

    try:
        asyncio.run(connect())
    except Exception as error:  # any failure means: no RabbitMQ to measure
        where = f"{parts.hostname}:{parts.port or 5672}"
        print(f"bench: RabbitMQ rows left out: no RabbitMQ answers at {where} ({error!r})")
        return None
    return url


class BenchMosquitto(MosquittoServer):
    """Mosquitto keeps 1000 QoS 1 messages per client beyond those in flight and
    drops the rest; a subscriber behind in a throughput round gets them all here."""

    def config(self) -> str:
        return super().config() + "max_queued_messages 0\n"


@contextlib.contextmanager
def mosquitto(data_dir: Path) -> Iterator[str | None]:
    """The URL of a Mosquitto of this run's own, None where none is installed."""
    if mosquitto_binary() is None:
        print(f"bench: MQTT rows left out: {MOSQUITTO_MISSING}")
        yield None
    else:
        with BenchMosquitto(data_dir) as server:
            yield server.url


@contextlib.contextmanager
def server_process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """A subscriber/server process of the bench, once it has said "ready"."""
    process = subprocess.Popen([sys.executable, "-m", *command], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"bench: {command[0]} did not start")
        yield process
    finally:
        process.terminate()
        process.wait(30)


def main(args: argparse.Namespace) -> str:
    global EVENT
    if args.payload:
        EVENT = padded_event(args.payload)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL's own user (as root: nobody) must reach its data
        with (
            NatsServer(Path(tmp) / "nats") as nats_server,
            mosquitto(Path(tmp) / "mosquitto") as mqtt_url,
        ):
            urls = Urls(nats_server.url, mqtt_url, rabbitmq_answering())
            raw_port = free_port()
            command = ["bench.server", nats_server.url, str(raw_port)]
            if urls.mqtt:
                command += ["--mqtt", urls.mqtt]
            if urls.amqp:
                command += ["--rabbitmq", urls.amqp, urls.exchange]
            with (
                server_process(command),
                server_process(["bench.faststream_server", nats_server.url]),
            ):
                results = asyncio.run(run_all(args, urls, raw_port))
        if "services" in args.only:
            with timed("services"):
                results += run_services(Path(tmp) / "stack", service_sizes(args))
    markdown = table(results)
    if args.results:
        args.results.write_text(report(markdown, args))
    return markdown


def service_sizes(args: argparse.Namespace) -> Sizes:
    return Sizes(
        rounds=args.rounds,
        signup_seconds=args.duration,
        signup_in_flight=args.concurrency,
        token_calls=args.token_calls,
        e2e_signups=args.signups,
        e2e_per_second=args.signup_rate,
        footprint_calls=args.footprint_calls,
        bcrypt_rounds=args.bcrypt_rounds,
    )


def report(markdown: str, args: argparse.Namespace) -> str:
    """RESULTS.md: the table, with when, on what and with which versions it was made."""
    command = " ".join(["python -m bench", *sys.argv[1:]])
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"Made by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:",
            f"{args.rounds} interleaved rounds, medians; the ratio is each row's value over",
            "its benchmark's reference row (for p99 rows: of the 99th percentiles), and",
            "its spread is the lowest and highest of the rounds' ratios.",
            f"Events carry a {EVENT.ByteSize()}-byte protobuf `UserCreated`.",
            "",
            "Machine: " + machine(),
            "",
            "Versions: " + versions(),
            "",
            markdown,
            "",
        ]
    )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.release()}, {model}, {available_cores()} cores "
        f"available of {os.cpu_count()}, {memory:.1f} GiB; load average {load} at the end "
        "(the machine is shared: ratios come from interleaved rounds)"
    )


def versions() -> str:
    packages = ("grpcio", "protobuf", "nats-py", "faststream", "bcrypt", "aio-pika", "aiomqtt")
    found = []
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    server = subprocess.run(
        [nats_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return ", ".join([f"Python {platform.python_version()}", *found, psycopg_build(), server])


def psycopg_build() -> str:
    """psycopg and which of its builds the services load: the resident memory rows depend on it."""
    version = psycopg.pq.version()
    libpq = f"{version // 10000}.{version % 100}"
    build = {
        "c": f"its C build, against the machine's libpq {libpq}",
        "binary": f"its binary wheel, with its own libpq {libpq} and OpenSSL",
    }.get(psycopg.pq.__impl__, f"its {psycopg.pq.__impl__} build, libpq {libpq}")
    return f"psycopg {psycopg.__version__} ({build})"


ROW_FAMILIES = ("rpc", "nats", "jetstream", "mqtt", "rabbitmq", "services")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant")
    parser.add_argument("--calls", type=int, default=2000, help="unary calls per round")
    parser.add_argument(
        "--messages",
        type=int,
        default=40000,
        help="core NATS messages per round (10,000 took 0.15 s: rounds' ratios spread 0.6 to 1.3)",
    )
    parser.add_argument(
        "--acked-messages",
        type=int,
        default=1500,
        help="messages per round on the brokers that acknowledge each (JetStream, MQTT, RabbitMQ)",
    )
    parser.add_argument(
        "--payload", type=int, default=0, help="event size in bytes (default: its natural size)"
    )
    parser.add_argument(
        "--duration", type=float, default=3.0, help="seconds of each round's sign-up burst"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4 * available_cores(),
        help="sign-ups in flight in the burst (default: 4 per core)",
    )
    parser.add_argument(
        "--bcrypt-rounds", type=int, default=12, help="user-service's bcrypt cost (BCRYPT_ROUNDS)"
    )
    parser.add_argument(
        "--token-calls", type=int, default=1000, help="token checks per round and variant"
    )
    parser.add_argument("--signups", type=int, default=1000, help="end-to-end sign-ups")
    parser.add_argument(
        "--signup-rate", type=float, default=30.0, help="end-to-end sign-ups a second"
    )
    parser.add_argument(
        "--footprint-calls", type=int, default=10000, help="calls to each service before its RSS"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).parent / "RESULTS.md",
        help="where the report goes (default bench/RESULTS.md; none with --quick)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ROW_FAMILIES,
        help="run only these row families (repeatable; default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: shows it works")
    args = parser.parse_args(argv)
    args.only = set(args.only or ROW_FAMILIES)
    if args.quick:
        args.rounds, args.calls, args.messages, args.acked_messages = 1, 64, 50, 50
        args.duration, args.signups, args.signup_rate, args.footprint_calls = 1.0, 20, 50.0, 50
        args.token_calls = 64
        args.bcrypt_rounds = 8
        if "--results" not in (argv if argv is not None else sys.argv):
            args.results = None
    return args


if __name__ == "__main__":
    print(main(parse_args()))
