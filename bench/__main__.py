"""Benchmarks of the micro core against the raw libraries, in one run.

    python -m bench [--quick] [--rounds N] [--calls N] [--messages N]

Starts its own nats-server and one server process (bench/server.py); this
process is the client. Both sides of a comparison do the same work: the raw
pub/sub variant serializes each event before publishing it and parses it in
its handler, as an application using nats-py directly would. Variants run interleaved (reference, micro, reference,
micro, ...) so that both see the same machine. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import nats
from devstack.nats import NatsServer
from devstack.ports import free_port
from micro import Client, Options
from micro.broker.nats import NatsBroker
from micro.pubsub import Publisher
from nats.aio.client import Client as Nats
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc

from bench.echo import CONTROL, SENT_HEADER, SERVICE, TOPIC_RAW, TOPIC_TYPED
from bench.stats import Result, table

Call = Callable[[user_pb2.GetRequest], Awaitable[user_pb2.GetResponse]]

EVENT = events_pb2.UserCreated(
    event_id="5b0c8d4e-1f0a-4c1e-9d36-9b1f1d1c2a77",
    user_id="0f8fad5b-d9cb-469f-a165-70867728950e",
    name="Ada Lovelace",
    email="ada@example.com",
    company="Analytical Engines Ltd",
)


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
        for _ in range(rounds):
            for call, result in ((raw, raw_result), (micro, micro_result)):
                seconds, latencies = await run_calls(call, calls, in_flight)
                result.add(len(latencies), seconds, latencies)
    return [raw_result, micro_result]


async def control(nc: Nats, **command: object) -> dict[str, object]:
    reply = await nc.request(CONTROL, json.dumps(command).encode(), timeout=90)
    result: dict[str, object] = json.loads(reply.data)
    return result


PACED_MESSAGES = 500
PACE_SECONDS = 0.001
"""The latency stream: one message a millisecond, far below either variant's capacity."""


async def publish_paced(publish: Callable[[], Awaitable[None]], count: int) -> None:
    next_at = time.monotonic()
    for _ in range(count):
        await publish()
        next_at += PACE_SECONDS
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def bench_pubsub(nats_url: str, messages: int, rounds: int) -> list[Result]:
    name = "publish → handler, core NATS"
    raw_result = Result(name, "raw nats-py", True)
    typed_result = Result(name, "typed Publisher → Subscriber", False)
    nc = await nats.connect(nats_url)
    broker = NatsBroker(nats_url)
    await broker.connect()
    publisher = Publisher(TOPIC_TYPED, events_pb2.UserCreated, broker)

    async def publish_raw() -> None:
        payload = EVENT.SerializeToString()
        await nc.publish(TOPIC_RAW, payload, headers={SENT_HEADER: str(time.monotonic_ns())})

    async def publish_typed() -> None:
        await publisher.publish(EVENT, headers={SENT_HEADER: str(time.monotonic_ns())})

    variants = (("raw", publish_raw, raw_result), ("typed", publish_typed, typed_result))
    paced = min(messages, PACED_MESSAGES)
    try:
        for _ in range(rounds):
            for variant, publish, result in variants:
                # Throughput: publish as fast as possible until the handler has them all.
                await control(nc, op="start", variant=variant, expected=messages)
                start_ns = time.monotonic_ns()
                for _ in range(messages):
                    await publish()
                reply = await control(nc, op="wait", variant=variant)
                result.add(messages, (int(str(reply["last_ns"])) - start_ns) / 1e9, [])
                # Latency: a paced stream, so that no queue builds up in between.
                await control(nc, op="start", variant=variant, expected=paced)
                await publish_paced(publish, paced)
                reply = await control(nc, op="wait", variant=variant)
                result.add(0, 0.0, [float(x) for x in reply["latencies_us"]])  # type: ignore[attr-defined]
    finally:
        await broker.disconnect()
        await nc.close()
    return [raw_result, typed_result]


async def run_all(args: argparse.Namespace, nats_url: str, raw_port: int) -> str:
    results: list[Result] = []
    for in_flight in (1, 64):
        calls = max(in_flight, args.calls // in_flight * in_flight)
        results += await bench_rpc(nats_url, raw_port, calls, args.rounds, in_flight)
    results += await bench_pubsub(nats_url, args.messages, args.rounds)
    return table(results)


def main(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as nats_server:
        raw_port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.server", nats_server.url, str(raw_port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise SystemExit("bench: the server process did not start")
            return asyncio.run(run_all(args, nats_server.url, raw_port))
        finally:
            server.terminate()
            server.wait(30)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant")
    parser.add_argument("--calls", type=int, default=4000, help="unary calls per round")
    parser.add_argument("--messages", type=int, default=20000, help="messages per round")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: shows it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.messages = 1, 64, 50
    return args


if __name__ == "__main__":
    print(main(parse_args()))
