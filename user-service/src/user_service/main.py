"""Wiring only: configuration, database pool, repository, publisher, handler, service."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta

from micro import Options, Service
from micro.config import ConfigError
from shippy.user.v1 import events_pb2, user_pb2_grpc

from user_service import __version__
from user_service.config import Config
from user_service.handler import UserHandler
from user_service.passwords import PasswordHasher
from user_service.repository import (
    DatabaseUnavailable,
    UserRepository,
    connection_pool,
    open_pool,
)
from user_service.tokens import Tokens

SERVICE_NAME = "shippy.user"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONNECT_TIMEOUT = 10.0
"""Seconds the service waits for the database when it starts."""

log = logging.getLogger("user_service")


def build_service(config: Config, options: Options) -> Service:
    pool = connection_pool(config.database_url, timeout=config.database_timeout)
    repository = UserRepository(pool)
    service = Service(SERVICE_NAME, version=__version__, options=options)
    handler = UserHandler(
        repository,
        PasswordHasher(config.bcrypt_rounds),
        Tokens(config.jwt_secret, config.jwt_issuer, timedelta(seconds=config.jwt_ttl)),
        service.publisher("user.created", events_pb2.UserCreated),
    )
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, handler)

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
    try:
        config = Config.from_env()
        options = Options.from_env()
    except ConfigError as error:
        print(f"user-service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        asyncio.run(build_service(config, options).run())
    except DatabaseUnavailable as error:
        print(f"user-service: database unavailable: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
