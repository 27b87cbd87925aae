"""What the benchmark's processes share: the servicer both RPC servers run,
the topics, and the rounds a subscriber process records and reports."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from shippy.user.v1 import user_pb2, user_pb2_grpc

SERVICE = "bench.user"
SERVICE_ON_NATS = "bench.user-nats"
"""The same servicer, in a Service on the NATS transport."""
RAW_RPC_SUBJECT = "bench.rpc.raw"
"""Where a plain nats-py responder answers GetRequests, the reference for the NATS transport."""
TOPIC_TYPED = "bench.typed"
TOPIC_RAW = "bench.raw"
TOPIC_FASTSTREAM = "bench.faststream"
JS_TOPIC_TYPED = "bench.js.typed"
"""The core's jetstream broker makes its own stream for it (MICRO_bench_js_typed)."""
JS_TOPIC_RAW = "bench.js.raw"
JS_TOPIC_FASTSTREAM = "bench.js.faststream"
JS_STREAM_RAW = "BENCH_RAW"
JS_STREAM_FASTSTREAM = "BENCH_FASTSTREAM"
JS_QUEUE = "bench"
"""The durable consumer every JetStream variant reads through, as email-service does."""
MQTT_TOPIC_RAW = "bench/raw"
"""The raw aiomqtt variant's MQTT topic (the typed one is TOPIC_TYPED as MQTT: bench/typed)."""
CONTROL = "bench.control"
SENT_HEADER = "Bench-Sent-Ns"
RABBITMQ_PREFETCH = 32
"""Unacknowledged messages a RabbitMQ consumer holds: the plugin's default, on both sides."""


class EchoUsers(user_pb2_grpc.UserServiceServicer):
    """Get answers with a fixed user carrying the requested id."""

    async def Get(
        self, request: user_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetResponse:
        return user_pb2.GetResponse(
            user=user_pb2.User(
                id=request.id, name="Ada Lovelace", company="Analytical", email="ada@example.com"
            )
        )


class Round:
    """Latencies of one round of one variant, complete once `expected` arrived."""

    def __init__(self) -> None:
        self.expected = 0
        self.latencies_us: list[float] = []
        self.last_ns = 0
        self.done = asyncio.Event()

    def reset(self, expected: int) -> None:
        self.expected, self.latencies_us, self.last_ns = expected, [], 0
        self.done.clear()

    def record(self, sent_ns: str | None) -> None:
        now = time.monotonic_ns()
        if sent_ns:
            self.latencies_us.append((now - int(sent_ns)) / 1000)
        self.last_ns = now
        if len(self.latencies_us) >= self.expected:
            self.done.set()


async def serve_control(nc: Nats, rounds: dict[str, Round]) -> None:
    """Answer the client's "start" and "wait" for the variants in `rounds`;
    another subscriber process answers for its own (requests for a variant
    not here get no answer from this one)."""

    async def on_control(msg: Msg) -> None:
        command = json.loads(msg.data)
        current = rounds.get(command.get("variant", ""))
        if current is None:
            return
        if command["op"] == "start":
            current.reset(int(command["expected"]))
            reply: dict[str, object] = {"ok": True}
        else:
            await asyncio.wait_for(current.done.wait(), 60)
            reply = {"latencies_us": current.latencies_us, "last_ns": current.last_ns}
        await msg.respond(json.dumps(reply).encode())

    await nc.subscribe(CONTROL, cb=on_control)
