"""Wiring only: configuration, database pool, repository, auth wrapper, handler, service."""

from __future__ import annotations

import asyncio
import logging
import sys

from micro import Options, Service
from micro.config import ConfigError
from shippy.consignment.v1 import consignment_pb2_grpc
from shippy.user.v1 import user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2_grpc

from consignment_service import __version__
from consignment_service.auth import AuthInterceptor
from consignment_service.config import Config
from consignment_service.handler import ShippingHandler
from consignment_service.repository import (
    ConsignmentRepository,
    DatabaseUnavailable,
    connection_pool,
    open_pool,
)

SERVICE_NAME = "shippy.consignment"
USER_SERVICE = "shippy.user"
VESSEL_SERVICE = "shippy.vessel"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONNECT_TIMEOUT = 10.0
"""Seconds the service waits for the database when it starts."""
POOL_TIMEOUT = 3.0
"""Seconds a request waits for a connection before it fails as UNAVAILABLE."""

log = logging.getLogger("consignment_service")


def build_service(config: Config, options: Options) -> Service:
    pool = connection_pool(config.database_url, timeout=POOL_TIMEOUT)
    repository = ConsignmentRepository(pool)
    auth = AuthInterceptor()
    service = Service(SERVICE_NAME, version=__version__, options=options, interceptors=[auth])
    auth.users = service.client.stub(user_pb2_grpc.UserServiceStub, USER_SERVICE)
    vessels = service.client.stub(vessel_pb2_grpc.VesselServiceStub, VESSEL_SERVICE)
    service.handle(
        consignment_pb2_grpc.add_ShippingServiceServicer_to_server,
        ShippingHandler(repository, vessels),
    )

    @service.before_start
    async def open_database() -> None:
        await open_pool(pool, connect_timeout=CONNECT_TIMEOUT)
        await repository.create_schema()
        log.info("database ready")

    @service.after_stop
    async def close_database() -> None:
        await pool.close()

    return service


def main() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        config = Config.from_env()
        options = Options.from_env()
    except ConfigError as error:
        print(f"consignment-service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        asyncio.run(build_service(config, options).run())
    except DatabaseUnavailable as error:
        print(f"consignment-service: database unavailable: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
