"""Wiring only: configuration, database pool, repository, seeded fleet, auth wrapper,
handler, service."""

from __future__ import annotations

import logging
from typing import Unpack

from micro import Options, Service
from micro.service import Parts
from shippy.vessel.v1 import vessel_pb2_grpc
from shippy_kit.auth import TokenInterceptor
from shippy_kit.postgres import connection_pool, serve_database
from shippy_kit.runner import run_service

from vessel_service import __version__
from vessel_service.config import Config
from vessel_service.fleet import SEED_FLEET
from vessel_service.handler import VesselHandler
from vessel_service.repository import VesselRepository

SERVICE_NAME = "shippy.vessel"
POOL_TIMEOUT = 3.0
"""Seconds a request waits for a connection before it fails as UNAVAILABLE."""

log = logging.getLogger("vessel_service")


def build_service(config: Config, options: Options, **parts: Unpack[Parts]) -> Service:
    """The service, from its configuration; `parts` (a registry, a broker, ...)
    replace the ones `options` name, as tests do with a `MemoryStack`'s."""
    pool = connection_pool(config.database_url, name="vessels", timeout=POOL_TIMEOUT)
    repository = VesselRepository(pool)
    service = Service(SERVICE_NAME, version=__version__, options=options, **parts)
    service.wrap(TokenInterceptor(config.tokens.verifier()))  # every call needs a token
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, VesselHandler(repository))

    async def create_schema_and_seed() -> None:
        await repository.create_schema()
        seeded = await repository.seed(SEED_FLEET)
        log.info("%d of %d seed vessels added", seeded, len(SEED_FLEET))

    serve_database(service, pool, on_open=create_schema_and_seed)
    return service


def main() -> None:
    run_service("vessel-service", lambda: build_service(Config.from_env(), Options.from_env()))


if __name__ == "__main__":
    main()
