"""`python -m shippy_kit.health_probe`, the health check of every service image."""

from __future__ import annotations

import asyncio

import pytest
from devstack.ports import free_port
from micro.nats_transport import NatsTransport
from micro.server import Server
from shippy.vessel.v1 import vessel_pb2_grpc
from shippy_kit.health_probe import main, probe_address


async def probe(*args: str) -> int:
    """The probe is a blocking program: run it off the loop that serves."""
    return await asyncio.to_thread(main, list(args))


async def test_passes_once_the_server_says_serving(capsys: pytest.CaptureFixture[str]) -> None:
    server = Server("127.0.0.1:0")
    server.handle(
        vessel_pb2_grpc.add_VesselServiceServicer_to_server, vessel_pb2_grpc.VesselServiceServicer()
    )
    address = await server.start()
    try:
        assert await probe(address) == 1
        assert "NOT_SERVING" in capsys.readouterr().err

        await server.set_serving(True)
        assert await probe(address) == 0
    finally:
        await server.stop(grace=0)


async def test_fails_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{free_port()}"

    assert await probe(address) == 1
    assert capsys.readouterr().err.startswith(f"health_probe: {address}: UNAVAILABLE")


async def test_probes_the_port_the_service_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = Server(f"0.0.0.0:{port}")
    server.handle(
        vessel_pb2_grpc.add_VesselServiceServicer_to_server, vessel_pb2_grpc.VesselServiceServicer()
    )
    await server.start()
    await server.set_serving(True)
    monkeypatch.setenv("MICRO_SERVER_ADDRESS", f"0.0.0.0:{port}")
    try:
        assert await probe() == 0
    finally:
        await server.stop(grace=0)


@pytest.mark.parametrize(
    ("bind", "dialled"),
    [
        ("0.0.0.0:50051", "127.0.0.1:50051"),
        ("[::]:50051", "[::1]:50051"),
        ("user-service:50051", "user-service:50051"),
    ],
)
def test_a_wildcard_bind_address_is_probed_on_loopback(bind: str, dialled: str) -> None:
    assert probe_address(bind) == dialled


def test_without_a_port_it_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MICRO_SERVER_ADDRESS", raising=False)

    assert main([]) == 2
    assert "MICRO_SERVER_ADDRESS" in capsys.readouterr().err


async def test_probes_an_instance_on_the_nats_transport(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nats_url: str
) -> None:
    transport = NatsTransport(nats_url)
    server = Server(transport=transport, service="shippy.vessel", instance="vessel-1")
    server.handle(
        vessel_pb2_grpc.add_VesselServiceServicer_to_server, vessel_pb2_grpc.VesselServiceServicer()
    )
    await server.start()
    monkeypatch.setenv("MICRO_TRANSPORT", "nats")
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("MICRO_SERVER_ID", "vessel-1")
    try:
        assert await probe("shippy.vessel") == 1
        assert "NOT_SERVING" in capsys.readouterr().err

        await server.set_serving(True)
        assert await probe("shippy.vessel") == 0

        monkeypatch.setenv("MICRO_SERVER_ID", "vessel-2")  # no such instance
        assert await probe("shippy.vessel") == 1
        assert "UNAVAILABLE: nothing is listening" in capsys.readouterr().err
    finally:
        await server.stop(grace=0)
        await transport.close()
