"""The transport seam: a client and a server agree on plain TCP or TLS, and
field violations travel as google.rpc.BadRequest details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from micro import errors
from micro.client import Client
from micro.config import ConfigError, Options
from micro.errors import FieldViolation, InvalidArgument, Unavailable
from micro.registry import Node, ServiceRecord
from micro.registry.memory import MemoryRegistry
from micro.selector import Selector
from micro.server import Server
from micro.transport import GrpcTransport, Tls, from_options
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

REQUEST = vessel_pb2.FindAvailableRequest(specification=vessel_pb2.Specification(capacity=1))


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(self, request: Any, context: Any) -> vessel_pb2.FindAvailableResponse:
        if request.specification.capacity > 100:
            raise InvalidArgument(
                "specification.capacity",
                "must be at most 100",
                FieldViolation("specification.max_weight", "is required"),
            )
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(id="v1"))


@asynccontextmanager
async def serving(transport: GrpcTransport) -> AsyncIterator[str]:
    server = Server("127.0.0.1:0", transport=transport)
    server.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    address = await server.start()
    try:
        yield address
    finally:
        await server.stop(grace=1)


@asynccontextmanager
async def client_of(address: str, transport: GrpcTransport) -> AsyncIterator[Client]:
    registry = MemoryRegistry()
    await registry.register(ServiceRecord("shippy.vessel", "1", (Node("n1", address),)), ttl=30)
    selector = Selector(registry)
    client = Client(registry, selector, timeout=3, transport=transport)
    try:
        yield client
    finally:
        await client.close()
        await selector.close()


def tls_of(folder: Path, cert: str | None, *, trust: bool = True) -> Tls:
    """PEM bytes of the test certificates in `folder`: its CA ca.pem (when
    `trust`), and the certificate `cert` ("server", "client", ...) with its key."""
    ca = (folder / "ca.pem").read_bytes() if trust else None
    if cert is None:
        return Tls(ca=ca)
    return Tls(
        ca=ca,
        cert=(folder / f"{cert}.pem").read_bytes(),
        key=(folder / f"{cert}-key.pem").read_bytes(),
    )


async def call(client: Client) -> vessel_pb2.FindAvailableResponse:
    stub = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")
    reply: vessel_pb2.FindAvailableResponse = await stub.FindAvailable(REQUEST)
    return reply


async def test_a_call_in_the_clear() -> None:
    async with serving(GrpcTransport()) as address, client_of(address, GrpcTransport()) as client:
        assert (await call(client)).vessel.id == "v1"


async def test_a_call_over_tls_verified_against_the_ca(tls_files: Path) -> None:
    server = GrpcTransport(tls_of(tls_files, "server", trust=False))
    async with serving(server) as address:
        async with client_of(address, GrpcTransport(tls_of(tls_files, None))) as client:
            assert (await call(client)).vessel.id == "v1"
        async with client_of(address, GrpcTransport()) as plain:
            with pytest.raises(Unavailable):
                await call(plain)  # a client in the clear cannot talk to a TLS server


async def test_a_client_refuses_a_server_its_ca_did_not_sign(tls_files: Path) -> None:
    server = GrpcTransport(tls_of(tls_files, "server", trust=False))
    other_ca = Tls(ca=(tls_files / "other-ca.pem").read_bytes())
    async with serving(server) as address, client_of(address, GrpcTransport(other_ca)) as client:
        with pytest.raises(Unavailable):
            await call(client)


async def test_mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(
    tls_files: Path,
) -> None:
    server = GrpcTransport(tls_of(tls_files, "server"))  # with a CA: client certificates required
    async with serving(server) as address:
        async with client_of(address, GrpcTransport(tls_of(tls_files, "client"))) as client:
            assert (await call(client)).vessel.id == "v1"
        async with client_of(address, GrpcTransport(tls_of(tls_files, None))) as anonymous:
            with pytest.raises(Unavailable):
                await call(anonymous)
        stranger = GrpcTransport(tls_of(tls_files, "other-client"))
        async with client_of(address, stranger) as client_of_another_ca:
            with pytest.raises(Unavailable):
                await call(client_of_another_ca)


def test_tls_comes_from_the_configuration_files(tls_files: Path, tmp_path: Path) -> None:
    tls = tls_of(tls_files, "server")
    paths = {}
    for field in ("ca", "cert", "key"):
        path = paths[field] = tmp_path / f"{field}.pem"
        path.write_bytes(getattr(tls, field))

    transport = from_options(
        Options(tls_ca=str(paths["ca"]), tls_cert=str(paths["cert"]), tls_key=str(paths["key"]))
    )

    assert transport.tls == tls
    assert from_options(Options()).tls is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(tls_cert="/c.pem"), "MICRO_TLS_CERT and MICRO_TLS_KEY must be set together"),
        (Options(tls_ca="/nowhere/ca.pem"), "MICRO_TLS_CA='/nowhere/ca.pem': cannot read it"),
    ],
)
def test_bad_tls_configuration_names_the_variable(options: Options, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        from_options(options)


async def test_field_violations_travel_as_bad_request_details() -> None:
    too_big = vessel_pb2.FindAvailableRequest(specification=vessel_pb2.Specification(capacity=101))
    async with serving(GrpcTransport()) as address:
        async with client_of(address, GrpcTransport()) as client:
            stub = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")
            with pytest.raises(InvalidArgument) as caught:
                await stub.FindAvailable(too_big)
        async with grpc.aio.insecure_channel(address) as channel:  # any gRPC client
            with pytest.raises(grpc.aio.AioRpcError) as raw:
                await vessel_pb2_grpc.VesselServiceStub(channel).FindAvailable(too_big)

    assert caught.value.violations == (
        FieldViolation("specification.capacity", "must be at most 100"),
        FieldViolation("specification.max_weight", "is required"),
    )
    assert caught.value.field == "specification.capacity"
    details = errors.details_from_metadata(raw.value.trailing_metadata())  # type: ignore[arg-type]
    assert details is not None
    [detail] = details.details
    request = error_details_pb2.BadRequest()
    assert detail.Unpack(request)
    assert [(v.field, v.description) for v in request.field_violations] == [
        ("specification.capacity", "must be at most 100"),
        ("specification.max_weight", "is required"),
    ]
    assert raw.value.details() == (
        "specification.capacity: must be at most 100; specification.max_weight: is required"
    )


def test_the_str_of_every_error_is_its_message() -> None:
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.MicroError)
    ]
    for cls in classes:
        if cls is InvalidArgument:
            error: errors.MicroError = InvalidArgument("email", "is required")
        elif cls is errors.ServiceNotFound:
            error = errors.ServiceNotFound("shippy.user", "nats")
        else:
            error = cls("something happened")
        assert str(error) == error.message, cls
