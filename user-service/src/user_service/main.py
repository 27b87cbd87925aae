"""Wiring only: configuration, database pool, repository, outbox publisher, handler, service."""

from __future__ import annotations

from datetime import timedelta
from typing import Unpack

from micro import Options, Publisher, Service
from micro.config import ConfigError
from micro.service import Parts
from shippy.user.v1 import events_pb2, user_pb2_grpc
from shippy_kit.auth import TokenInterceptor
from shippy_kit.outbox import PostgresOutbox
from shippy_kit.postgres import connection_pool, serve_database
from shippy_kit.runner import run_service
from shippy_kit.tokens import read_private_key, reason

from user_service import __version__
from user_service.config import Config
from user_service.handler import UserHandler
from user_service.limits import LoginLimits
from user_service.passwords import PasswordHasher
from user_service.repository import UserRepository
from user_service.tokens import Tokens

SERVICE_NAME = "shippy.user"
OPEN_METHODS = frozenset(
    f"/shippy.user.v1.UserService/{method}" for method in ("Create", "Auth", "ValidateToken")
)
"""The methods that need no token; Get and GetAll do."""


def build_service(config: Config, options: Options, **parts: Unpack[Parts]) -> Service:
    """The service, from its configuration; `parts` (a registry, a broker, ...)
    replace the ones `options` name, as tests do with a `MemoryStack`'s."""
    pool = connection_pool(config.database_url, name="users", timeout=config.database_timeout)
    repository = UserRepository(pool)
    outbox = PostgresOutbox(pool)
    service = Service(SERVICE_NAME, version=__version__, options=options, **parts)
    user_created = (
        service.publisher("user.created", events_pb2.UserCreated, outbox=outbox)
        if config.outbox_relay
        else Publisher("user.created", events_pb2.UserCreated, outbox)  # stored, not sent
    )
    tokens = build_tokens(config)
    passwords = PasswordHasher(config.bcrypt_rounds, config.bcrypt_concurrency)
    service.wrap(TokenInterceptor(tokens.verifier, open_methods=OPEN_METHODS))
    handler = UserHandler(
        repository,
        passwords,
        tokens,
        user_created,
        LoginLimits(config.auth_per_email, config.auth_per_address),
    )
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, handler)

    async def create_schema() -> None:
        await repository.create_schema()
        await outbox.create_schema()

    serve_database(service, pool, on_open=create_schema)
    service.after_stop(outbox.close)
    service.after_stop(passwords.close)
    return service


def build_tokens(config: Config) -> Tokens:
    """The signing key and the verifier, read from their files; `ConfigError`
    naming the variable when one cannot be used."""
    try:
        private_key = read_private_key(config.jwt_private_key_file)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"JWT_PRIVATE_KEY_FILE={config.jwt_private_key_file}: {reason(error)}"
        ) from None
    settings = config.tokens
    return Tokens(
        private_key,
        settings.verifier(private_key.verify_key),
        ttl=timedelta(seconds=config.jwt_ttl),
        issuer=settings.issuer,
        audience=settings.audience,
    )


def main() -> None:
    run_service("user-service", lambda: build_service(Config.from_env(), Options.from_env()))


if __name__ == "__main__":
    main()
