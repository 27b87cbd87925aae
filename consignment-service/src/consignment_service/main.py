"""Wiring only: configuration, database pool, repository, auth wrapper, handler, service."""

from __future__ import annotations

from typing import Unpack

from micro import Options, Service
from micro.service import Parts
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.vessel.v1 import vessel_pb2_grpc
from shippy_kit.postgres import connection_pool, serve_database
from shippy_kit.runner import run_service

from consignment_service import __version__
from consignment_service.auth import AuthInterceptor, OnBehalfOfCaller
from consignment_service.config import Config
from consignment_service.handler import ShippingHandler
from consignment_service.repository import ConsignmentRepository

SERVICE_NAME = "shippy.consignment"
VESSEL_SERVICE = "shippy.vessel"
POOL_TIMEOUT = 3.0
"""Seconds a request waits for a connection before it fails as UNAVAILABLE."""


def build_service(config: Config, options: Options, **parts: Unpack[Parts]) -> Service:
    """The service, from its configuration; `parts` (a registry, a broker, ...)
    replace the ones `options` name, as tests do with a `MemoryStack`'s."""
    pool = connection_pool(config.database_url, name="consignments", timeout=POOL_TIMEOUT)
    repository = ConsignmentRepository(pool)
    service = Service(SERVICE_NAME, version=__version__, options=options, **parts)
    service.wrap(AuthInterceptor(config.tokens.verifier()))  # local: no call to user-service
    vessels = service.client.stub(vessel_pb2_grpc.VesselServiceStub, VESSEL_SERVICE)
    service.handle(
        consignment_pb2_grpc.add_ShippingServiceServicer_to_server,
        ShippingHandler(repository, OnBehalfOfCaller(vessels)),  # type: ignore[arg-type]
    )
    serve_database(service, pool, on_open=repository.create_schema)
    return service


def main() -> None:
    run_service("consignment-service", lambda: build_service(Config.from_env(), Options.from_env()))


if __name__ == "__main__":
    main()
