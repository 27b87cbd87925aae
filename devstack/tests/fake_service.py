"""A stand-in for a Shippy service, to test LocalStack on its own: it serves
grpc.health.v1 (SERVING) at MICRO_SERVER_ADDRESS, says what it was given, and
stops on SIGTERM, as the real services do.

Run as `python fake_service.py NAME [--exit-after SECONDS]`: with
--exit-after, it ends by itself (code 3) after that long, as a crash would.
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]


def main() -> None:
    name = sys.argv[1]
    exit_after = float(sys.argv[3]) if sys.argv[2:3] == ["--exit-after"] else None
    # Block SIGTERM before grpc starts its threads, so that sigwait below gets it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = os.environ["MICRO_SERVER_ADDRESS"]
    server.add_insecure_port(address)
    server.start()
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    print(f"{name} listening on {address}, database {database}", flush=True)
    for variable in ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEYS_FILE", "SMTP_PORT", "BCRYPT_ROUNDS"):
        if variable in os.environ:
            print(f"{name} has {variable}", flush=True)
    if exit_after is not None:
        if signal.sigtimedwait({signal.SIGTERM}, exit_after) is None:
            print(f"{name} crashed", flush=True)
            sys.exit(3)
    else:
        signal.sigwait({signal.SIGTERM})
    server.stop(grace=1).wait()
    print(f"{name} stopped", flush=True)


if __name__ == "__main__":
    main()
