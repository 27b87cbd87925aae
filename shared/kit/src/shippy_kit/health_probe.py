"""A container health check: exit 0 when a service's gRPC server says SERVING.

    python -m shippy_kit.health_probe                   # the server MICRO_SERVER_ADDRESS binds
    python -m shippy_kit.health_probe 127.0.0.1:50051   # any server
    MICRO_TRANSPORT=nats python -m shippy_kit.health_probe shippy.user   # over NATS

Over NATS (`MICRO_TRANSPORT=nats`) there is no port: the probe asks the same
health service on the instance's own subject (`micro.nats_transport.
instance_address`), the instance being the one `MICRO_SERVER_ID` names, on the
NATS at `NATS_URL`; without `MICRO_SERVER_ID`, any instance of the service answers.

It asks the standard health service (grpc.health.v1) about the whole server
(service ""), as `grpc_health_probe` does, so a service image needs no extra
binary for its HEALTHCHECK. A wildcard bind address (`0.0.0.0`, `[::]`) is
probed on the loopback address. Exit code 0 means SERVING; 1 means anything
else (NOT_SERVING, no server, no answer within the timeout), with one line on
stderr that says which.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from micro.config import ConfigError, Options
from micro.errors import Unavailable
from micro.nats_transport import NatsTransport, address_of, instance_address

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
    return _problem(address, response)


def check_nats(nats_url: str, address: str, timeout: float = TIMEOUT) -> str | None:
    """None when the service at NATS address `address` (an instance's, or a
    service's) is SERVING, otherwise why it is not."""

    async def ask() -> str | None:
        transport = NatsTransport(nats_url, connect_timeout=timeout)
        health = health_pb2_grpc.HealthStub(transport.channel(address))
        try:
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.aio.AioRpcError as error:
            return f"{address}: {error.code().name}: {error.details()}"
        except Unavailable as error:
            return str(error)
        finally:
            await transport.close()
        return _problem(address, response)

    return asyncio.run(ask())


def _problem(address: str, response: health_pb2.HealthCheckResponse) -> str | None:
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return f"{address}: {status}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print(
            "usage: python -m shippy_kit.health_probe [HOST:PORT]\n"
            "       MICRO_TRANSPORT=nats python -m shippy_kit.health_probe SERVICE",
            file=sys.stderr,
        )
        return 2
    try:
        options = Options.from_env()
        if options.transport == "nats":
            return _probe_nats(options, args)
        address = args[0] if args else probe_address(options.server_address)
    except (ConfigError, ValueError) as error:
        print(f"health_probe: {error}", file=sys.stderr)
        return 2
    if address.endswith(":0"):
        print(
            "health_probe: no port to probe: give HOST:PORT or set MICRO_SERVER_ADDRESS",
            file=sys.stderr,
        )
        return 2
    return _report(check(address))


def _probe_nats(options: Options, args: Sequence[str]) -> int:
    if not args:
        print("health_probe: over NATS, give the SERVICE name (e.g. shippy.user)", file=sys.stderr)
        return 2
    service = args[0]
    instance = options.server_id
    address = address_of(service) if instance is None else instance_address(service, instance)
    return _report(check_nats(options.nats_url, address))


def _report(problem: str | None) -> int:
    if problem is not None:
        print(f"health_probe: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
