"""`make bench` works: each benchmark runs once at a tiny size.

The MQTT rows need a mosquitto binary and the RabbitMQ rows a RabbitMQ at
RABBITMQ_URL; the bench leaves a broker's rows out, saying why, only where
that broker is really absent here, and so does this test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from devstack.mosquitto import mosquitto_binary
from micro_rabbitmq import DEFAULT_RABBITMQ_URL

from bench.stats import in_turn

ROOT = Path(__file__).resolve().parents[1]
TYPED = "typed Publisher → Subscriber"
FASTSTREAM = "FastStream NatsBroker, protobuf decoder"
NATS = "publish → handler, core NATS"
JETSTREAM = "publish → handler, JetStream"
SIGNUP = "sign-up (Create), cost 8, 8 in flight"
TOKENS = "token check, 1 at a time"
PROBED = "ValidateToken, 1 in flight, one call every 5 ms"
RSS = "resident memory (RSS)"
STARTUP = "`make run`'s stack: start → every service SERVING"
SERVICES = ("vessel-service", "user-service", "email-service", "consignment-service")
MQTT = "publish → handler, MQTT 5 (Mosquitto)"
RABBITMQ = "publish → handler, RabbitMQ"
RPC_OVER_NATS = "unary RPC over NATS"


def rabbitmq_answers() -> bool:
    parts = urlsplit(os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2).close()
    except OSError:
        return False
    return True


def test_bench_prints_one_row_per_variant(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--concurrency", "8", "--results", results],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "µs" not in line]
    present = [tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows]
    expected = [
        row
        for in_flight in (1, 64)
        for row in (
            (f"unary RPC, {in_flight} in flight", "raw grpc.aio, fixed address"),
            (f"unary RPC, {in_flight} in flight", "micro client by name"),
            (f"{RPC_OVER_NATS}, {in_flight} in flight", "raw nats-py request/reply"),
            (f"{RPC_OVER_NATS}, {in_flight} in flight", "micro client by name, NATS transport"),
            (f"{RPC_OVER_NATS}, {in_flight} in flight", "micro client by name, gRPC transport"),
        )
    ]
    expected += [
        (NATS, "raw nats-py"),
        (NATS, TYPED),
        (NATS, FASTSTREAM),
        (JETSTREAM, "raw nats-py JetStream"),
        (JETSTREAM, "raw nats-py JetStream, with Nats-Msg-Id as the core"),
        (JETSTREAM, f"{TYPED}, jetstream"),
        (JETSTREAM, "FastStream JetStream"),
    ]
    if mosquitto_binary() is not None:
        expected += [(MQTT, "raw aiomqtt"), (MQTT, TYPED)]
    else:
        assert "bench: MQTT rows left out: mosquitto not found" in run.stdout
    if rabbitmq_answers():
        expected += [(RABBITMQ, "raw aio-pika"), (RABBITMQ, TYPED)]
    else:
        assert "bench: RabbitMQ rows left out: no RabbitMQ answers" in run.stdout
    cores = len(os.sched_getaffinity(0))
    expected += [
        (SIGNUP, f"bound: {cores} cores ÷ one hash"),
        (SIGNUP, f"bcrypt alone: {cores} threads hashing in the bench process"),
        (SIGNUP, "user-service Create"),
        (
            SIGNUP,
            "user-service Create, one hash at a time (BCRYPT_CONCURRENCY=1), the probe running",
        ),
        (PROBED, "at rest"),
        (PROBED, "during the sign-up burst"),
        (PROBED, "during that burst, one hash at a time (BCRYPT_CONCURRENCY=1)"),
        (TOKENS, "ValidateToken RPC (user-service)"),
        (TOKENS, "local verification (consignment-service's auth wrapper)"),
        (
            "sign-up → welcome email at SMTP, 20 at 50/s",
            "Create OK → mail stored (bcrypt cost lowered to 4)",
        ),
        (RSS, "bare Python: import grpc, protobuf, nats"),
        *((RSS, f"{s} after {when}") for s in SERVICES for when in ("start", "50 calls")),
        (STARTUP, "cold (a new var directory)"),
        (STARTUP, "warm (the same var directory again)"),
    ]
    assert present == expected
    report = results.read_text()
    assert report.startswith("# Benchmark results")
    assert "Versions: Python 3.11" in report
    assert "faststream 0.7" in report
    assert "\n".join(run.stdout.strip().splitlines()[-len(rows) - 2 :]) in report


def test_every_other_round_runs_the_variants_in_reverse() -> None:
    assert [in_turn("ABC", n) for n in range(4)] == ["ABC", "CBA", "ABC", "CBA"]
