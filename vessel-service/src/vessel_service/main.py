"""Wiring only: configuration, database pool, repository, seeded fleet, handler, service."""

from __future__ import annotations

import asyncio
import logging
import sys

from micro import Options, Service
from micro.config import ConfigError
from shippy.vessel.v1 import vessel_pb2_grpc

from vessel_service import __version__
from vessel_service.config import Config
from vessel_service.fleet import SEED_FLEET
from vessel_service.handler import VesselHandler
from vessel_service.repository import (
    DatabaseUnavailable,
    VesselRepository,
    connection_pool,
    open_pool,
)

SERVICE_NAME = "shippy.vessel"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONNECT_TIMEOUT = 10.0
"""Seconds the service waits for the database when it starts."""
POOL_TIMEOUT = 3.0
"""Seconds a request waits for a connection before it fails as UNAVAILABLE."""

log = logging.getLogger("vessel_service")


def build_service(config: Config, options: Options) -> Service:
    pool = connection_pool(config.database_url, timeout=POOL_TIMEOUT)
    repository = VesselRepository(pool)
    service = Service(SERVICE_NAME, version=__version__, options=options)
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, VesselHandler(repository))

    @service.before_start
    async def open_database() -> None:
        await open_pool(pool, connect_timeout=CONNECT_TIMEOUT)
        await repository.create_schema()
        seeded = await repository.seed(SEED_FLEET)
        log.info("database ready; %d of %d seed vessels added", seeded, len(SEED_FLEET))

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
        print(f"vessel-service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        asyncio.run(build_service(config, options).run())
    except DatabaseUnavailable as error:
        print(f"vessel-service: database unavailable: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
