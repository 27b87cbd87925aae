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

ROOT = Path(__file__).resolve().parents[1]
TYPED = "typed Publisher → Subscriber"
NATS = "publish → handler, core NATS"
MQTT = "publish → handler, MQTT 5 (Mosquitto)"
RABBITMQ = "publish → handler, RabbitMQ"


def rabbitmq_answers() -> bool:
    parts = urlsplit(os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2).close()
    except OSError:
        return False
    return True


def test_bench_prints_one_row_per_variant() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "µs" not in line]
    present = [tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows]
    expected = [
        ("unary RPC, 1 in flight", "raw grpc.aio, fixed address"),
        ("unary RPC, 1 in flight", "micro client by name"),
        ("unary RPC, 64 in flight", "raw grpc.aio, fixed address"),
        ("unary RPC, 64 in flight", "micro client by name"),
        (NATS, "raw nats-py"),
        (NATS, TYPED),
    ]
    if mosquitto_binary() is not None:
        expected += [(MQTT, "raw aiomqtt"), (MQTT, TYPED)]
    else:
        assert "bench: MQTT rows left out: mosquitto not found" in run.stdout
    if rabbitmq_answers():
        expected += [(RABBITMQ, "raw aio-pika"), (RABBITMQ, TYPED)]
    else:
        assert "bench: RabbitMQ rows left out: no RabbitMQ answers" in run.stdout
    assert present == expected
