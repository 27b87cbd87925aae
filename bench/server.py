"""The benchmark's server process.

    python -m bench.server NATS_URL RAW_PORT

Serves the same servicer twice: through the micro core (registered over NATS,
wrappers on) and on a plain grpc.aio server at RAW_PORT. It also subscribes
to the pub/sub topics twice: a typed micro Subscriber and a raw nats-py one.
Each subscriber records the publish-to-handler latency of every message; the
client asks for them over the control subject once it has published a round.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc
import nats
from micro import EventInfo, Options, Service
from nats.aio.msg import Msg
from shippy.user.v1 import events_pb2, user_pb2_grpc

from bench.echo import CONTROL, SENT_HEADER, SERVICE, TOPIC_RAW, TOPIC_TYPED, EchoUsers


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


async def main(nats_url: str, raw_port: int) -> None:
    rounds = {"typed": Round(), "raw": Round()}

    service = Service(SERVICE, options=Options(registry="nats", broker="nats", nats_url=nats_url))
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, EchoUsers())

    @service.subscriber(TOPIC_TYPED)
    async def on_typed(event: events_pb2.UserCreated, info: EventInfo) -> None:
        rounds["typed"].record(info.headers.get(SENT_HEADER))

    raw_server = grpc.aio.server()
    user_pb2_grpc.add_UserServiceServicer_to_server(EchoUsers(), raw_server)
    raw_server.add_insecure_port(f"127.0.0.1:{raw_port}")

    nc = await nats.connect(nats_url)

    async def on_raw(msg: Msg) -> None:
        events_pb2.UserCreated.FromString(msg.data)  # the work a typed handler gets done
        rounds["raw"].record((msg.headers or {}).get(SENT_HEADER))

    async def on_control(msg: Msg) -> None:
        command = json.loads(msg.data)
        current = rounds.get(command.get("variant", ""))
        if command["op"] == "start" and current:
            current.reset(int(command["expected"]))
            reply: dict[str, object] = {"ok": True}
        elif command["op"] == "wait" and current:
            await asyncio.wait_for(current.done.wait(), 60)
            reply = {"latencies_us": current.latencies_us, "last_ns": current.last_ns}
        else:
            reply = {"ok": True}
        await msg.respond(json.dumps(reply).encode())

    await nc.subscribe(TOPIC_RAW, cb=on_raw)
    await nc.subscribe(CONTROL, cb=on_control)
    await raw_server.start()

    @service.after_start
    async def announce() -> None:
        print("ready", flush=True)

    try:
        await service.run()
    finally:
        await raw_server.stop(1)
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
