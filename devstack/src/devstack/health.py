"""Waiting for a gRPC server to say SERVING through the standard health service
(grpc.health.v1), which every micro service serves."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

# Retry a refused connection quickly: the server is expected any moment now.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class NotServing(RuntimeError):
    """The server stopped, or did not report SERVING in time."""


def check(address: str, timeout: float = 2.0) -> bool:
    """Whether the server at host:port answers SERVING right now."""
    with grpc.insecure_channel(address, options=FAST_RECONNECT) as channel:
        return _serving(health_pb2_grpc.HealthStub(channel), timeout)


def wait_until_serving(
    address: str, timeout: float, still_running: Callable[[], bool] = lambda: True
) -> None:
    """Return once the server at host:port reports SERVING; raise NotServing
    when `still_running()` turns false or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address, options=FAST_RECONNECT) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if not still_running():
                raise NotServing(f"the process serving {address} exited")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotServing(f"{address} did not report SERVING within {timeout:g}s")
            if _serving(stub, min(1.0, remaining)):
                return
            time.sleep(0.1)


def _serving(stub: health_pb2_grpc.HealthStub, timeout: float) -> bool:
    try:
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
