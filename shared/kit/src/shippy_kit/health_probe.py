"""A container health check: exit 0 when a service's gRPC server says SERVING.

    python -m shippy_kit.health_probe                   # the server MICRO_SERVER_ADDRESS binds
    python -m shippy_kit.health_probe 127.0.0.1:50051   # any server

It asks the standard health service (grpc.health.v1) about the whole server
(service ""), as `grpc_health_probe` does, so a service image needs no extra
binary for its HEALTHCHECK. A wildcard bind address (`0.0.0.0`, `[::]`) is
probed on the loopback address. Exit code 0 means SERVING; 1 means anything
else (NOT_SERVING, no server, no answer within the timeout), with one line on
stderr that says which.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from micro.config import ConfigError, Options

TIMEOUT = 2.0
"""Seconds the probe waits for an answer: below a health check's own timeout."""

_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def probe_address(bind: str) -> str:
    """The address to dial for a server bound to `bind`."""
    host, _, port = bind.rpartition(":")
    return f"{_LOOPBACK.get(host, host)}:{port}"


def check(address: str, timeout: float = TIMEOUT) -> str | None:
    """None when the server at `address` is SERVING, otherwise why it is not."""
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        try:
            response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call):
                return f"{address}: {error.code().name}: {error.details()}"
            return f"{address}: {error}"
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return f"{address}: {status}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print("usage: python -m shippy_kit.health_probe [HOST:PORT]", file=sys.stderr)
        return 2
    try:
        address = args[0] if args else probe_address(Options.from_env().server_address)
    except ConfigError as error:
        print(f"health_probe: {error}", file=sys.stderr)
        return 2
    if address.endswith(":0"):
        print(
            "health_probe: no port to probe: give HOST:PORT or set MICRO_SERVER_ADDRESS",
            file=sys.stderr,
        )
        return 2
    problem = check(address)
    if problem is not None:
        print(f"health_probe: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
