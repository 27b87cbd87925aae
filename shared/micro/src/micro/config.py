"""A service's options, from arguments or from environment variables.

| variable                  | meaning                                                  | default                 |
|---------------------------|----------------------------------------------------------|-------------------------|
| `MICRO_REGISTRY`          | registry plugin: `nats`, `memory` (this service only), … | `nats`                  |
| `MICRO_BROKER`            | broker plugin: `jetstream` (at least once), `nats` (at   | `jetstream`             |
|                           | most once), `memory` (this service only), …              |                         |
| `MICRO_TRANSPORT`         | transport plugin: `grpc`, `nats` (request/reply on       | `grpc`                  |
|                           | `micro.rpc.<service>.…`, no port of its own), …          |                         |
| `MICRO_BROKER_ADDRESS`    | NATS URL for the broker and the NATS registry            | `NATS_URL`              |
| `NATS_URL`                | the same, under the name NATS tools use                  | `nats://127.0.0.1:4222` |
|                           | (may hold a login: `nats://user:password@host:4222`)     |                         |
| `NATS_NKEY`               | NKey seed file (`SU…`) this process logs in to NATS with | none                    |
| `NATS_CREDS`              | creds file (user JWT + NKey seed) this process logs in   | none                    |
|                           | to NATS with (decentralized auth, `nsc generate creds`)  |                         |
| `NATS_INBOX_PREFIX`       | subject prefix of this process's inboxes (replies, its   | `_INBOX`                |
|                           | JetStream deliveries), so that permissions can keep      |                         |
|                           | other logins from reading them                           |                         |
| `MICRO_SERVER_ADDRESS`    | host:port the gRPC server binds (port 0: any free)       | `127.0.0.1:0`           |
| `MICRO_SERVER_ADVERTISE`  | host:port put in the registry, when not the bound        | the bound address       |
| `MICRO_SERVER_ID`         | this instance's id: its registry node, its ADR-32 id,    | `<name>-<random uuid>`  |
|                           | and over NATS its own health subject                     |                         |
| `MICRO_TLS_CA`            | CA bundle (PEM file): clients verify servers with it; a  | none: no TLS            |
|                           | server with a certificate then requires client ones      |                         |
| `MICRO_TLS_CERT`          | this process's certificate chain (PEM file): a server    | none                    |
|                           | serves TLS with it, a client presents it (mutual TLS)    |                         |
| `MICRO_TLS_KEY`           | the private key of `MICRO_TLS_CERT` (PEM file)           | none                    |
| `MICRO_REGISTER_TTL`      | seconds a registration lives without a heartbeat         | `15`                    |
| `MICRO_REGISTER_INTERVAL` | seconds between heartbeats                               | `5`                     |
| `MICRO_SELECTOR`          | `round_robin`, `random` or `least_outstanding` (fewest   | `round_robin`           |
|                           | calls in flight from this process); see micro.selector   |                         |
| `MICRO_METADATA`          | this node's metadata in the registry, `key=value` pairs  | none                    |
|                           | comma-separated (`track=canary`): what selector filters  |                         |
|                           | (`NodeMetadata`) route by                                |                         |
| `MICRO_CLIENT_TIMEOUT`    | deadline of every client call, in seconds                | `5`                     |
| `MICRO_SHUTDOWN_TIMEOUT`  | seconds a stop waits for in-flight work                  | `10`                    |

The JetStream broker's settings (`JetStreamSettings`, read whatever the broker):

| variable                           | meaning                                         | default |
|------------------------------------|-------------------------------------------------|---------|
| `MICRO_JETSTREAM_REPLICAS`         | copies of each stream (1 on one server, 3 on a  | `1`     |
|                                    | cluster)                                        |         |
| `MICRO_JETSTREAM_DUPLICATE_WINDOW` | seconds a stream remembers a `Micro-Id` to drop | `3600`  |
|                                    | its duplicates                                  |         |
| `MICRO_JETSTREAM_ACK_WAIT`         | seconds without an answer from a handler before | `60`    |
|                                    | the event is delivered again                    |         |
| `MICRO_JETSTREAM_MAX_DELIVER`      | attempts before an event goes to the dead       | `12`    |
|                                    | letters (about two minutes of failures)         |         |

Plugins are found by name among the installed packages' entry points
(`micro.plugins`); an unknown name is an error that lists the installed ones.

`docs/configuration.md` repeats this table with each service's own variables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from micro.selector import STRATEGIES

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
SERVICE_METADATA = ("version", "protocol")
"""Metadata keys a service sets on its node itself."""
SUBJECT = re.compile(r"[\w-]+(\.[\w-]+)*", re.ASCII)
"""A NATS subject without wildcards."""


class ConfigError(ValueError):
    """A variable holds a value that cannot be used: names the variable."""


@dataclass(frozen=True)
class NatsLogin:
    """Who this process is on NATS, besides a user/password or token in the
    URL: an NKey seed file (`NATS_NKEY`) or a creds file (`NATS_CREDS`) it
    logs in with, and the prefix of its inboxes (`NATS_INBOX_PREFIX`). Each
    file is checked when read, so that a missing or unreadable one is a
    ConfigError naming the variable, never a failure at the first connection;
    nats-py reads the file again at every (re)connection and no message
    shows what it holds."""

    nkey_seed_file: str | None = None
    creds_file: str | None = None
    inbox_prefix: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NatsLogin:
        nkey = env.get("NATS_NKEY", "").strip() or None
        creds = env.get("NATS_CREDS", "").strip() or None
        if nkey and creds:
            raise ConfigError("NATS_NKEY and NATS_CREDS: set one of the two, not both")
        if nkey:
            _check_seed("NATS_NKEY", nkey, _readable("NATS_NKEY", nkey).strip())
        if creds:
            _check_creds("NATS_CREDS", creds, _readable("NATS_CREDS", creds))
        inbox_prefix = env.get("NATS_INBOX_PREFIX", "").strip() or None
        if inbox_prefix and not SUBJECT.fullmatch(inbox_prefix):
            raise ConfigError(
                f"NATS_INBOX_PREFIX={inbox_prefix!r}: must be a subject without wildcards"
                " (tokens of letters, digits, _ and -, joined by dots)"
            )
        return cls(nkey_seed_file=nkey, creds_file=creds, inbox_prefix=inbox_prefix)


NO_LOGIN = NatsLogin()
"""Log in with what the NATS URL holds, if anything."""


@dataclass(frozen=True)
class JetStreamSettings:
    """How the JetStream broker keeps events and delivers them (micro.broker.jetstream).

    The dedupe window is an hour: far longer than the outbox relay's longest
    retry delay (30 s), so that an event published again after a long NATS
    outage is still recognised and dropped. The ack wait (60 s) is longer than
    the slowest handler Shippy has (email-service's 30 s SMTP timeout), and a
    handler that runs longer than half of it tells the server it is still at
    work, so the event is not delivered elsewhere meanwhile. Twelve attempts,
    0.1 s apart and then twice as long each time (at most 30 s), are about two
    minutes of failures: an SMTP server down for a while delays mail rather
    than sending it to the dead letters, which are for events that cannot
    be handled. Sixteen handlers of a subscription run at once: one at a
    time, each waits for the server to confirm the previous event's ack
    (about a millisecond with the stream's files synced), which caps a
    subscriber near a thousand events a second (bench/)."""

    replicas: int = 1
    duplicate_window: float = 3600.0
    ack_wait: float = 60.0
    max_deliver: int = 12
    max_in_flight: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JetStreamSettings:
        return cls(
            replicas=whole_number(
                env, "MICRO_JETSTREAM_REPLICAS", cls.replicas, minimum=1, maximum=5
            ),
            duplicate_window=seconds(env, "MICRO_JETSTREAM_DUPLICATE_WINDOW", cls.duplicate_window),
            ack_wait=seconds(env, "MICRO_JETSTREAM_ACK_WAIT", cls.ack_wait),
            max_deliver=whole_number(
                env, "MICRO_JETSTREAM_MAX_DELIVER", cls.max_deliver, minimum=1
            ),
            max_in_flight=whole_number(
                env, "MICRO_JETSTREAM_MAX_IN_FLIGHT", cls.max_in_flight, minimum=1
            ),
        )


@dataclass(frozen=True)
class Options:
    registry: str = "nats"
    broker: str = "jetstream"
    transport: str = "grpc"
    nats_url: str = DEFAULT_NATS_URL
    server_address: str = "127.0.0.1:0"
    advertise: str | None = None
    server_id: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    register_ttl: float = 15.0
    register_interval: float = 5.0
    selector: str = "round_robin"
    metadata: Mapping[str, str] = field(default_factory=dict)
    client_timeout: float = 5.0
    shutdown_timeout: float = 10.0
    jetstream: JetStreamSettings = JetStreamSettings()
    nats_login: NatsLogin = NO_LOGIN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Options:
        env = os.environ if env is None else env
        options = cls(
            registry=_name(env, "MICRO_REGISTRY", cls.registry),
            broker=_name(env, "MICRO_BROKER", cls.broker),
            transport=_name(env, "MICRO_TRANSPORT", cls.transport),
            nats_url=env.get("MICRO_BROKER_ADDRESS") or env.get("NATS_URL") or DEFAULT_NATS_URL,
            server_address=env.get("MICRO_SERVER_ADDRESS") or cls.server_address,
            advertise=env.get("MICRO_SERVER_ADVERTISE") or None,
            server_id=env.get("MICRO_SERVER_ID", "").strip() or None,
            tls_ca=env.get("MICRO_TLS_CA") or None,
            tls_cert=env.get("MICRO_TLS_CERT") or None,
            tls_key=env.get("MICRO_TLS_KEY") or None,
            register_ttl=seconds(env, "MICRO_REGISTER_TTL", cls.register_ttl),
            register_interval=seconds(env, "MICRO_REGISTER_INTERVAL", cls.register_interval),
            selector=_choice(env, "MICRO_SELECTOR", cls.selector, STRATEGIES),
            metadata=_pairs(env, "MICRO_METADATA"),
            client_timeout=seconds(env, "MICRO_CLIENT_TIMEOUT", cls.client_timeout),
            shutdown_timeout=seconds(env, "MICRO_SHUTDOWN_TIMEOUT", cls.shutdown_timeout),
            jetstream=JetStreamSettings.from_env(env),
            nats_login=NatsLogin.from_env(env),
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown options: {', '.join(sorted(unknown))}")
        return replace(options, **overrides)


def required(env: Mapping[str, str], name: str) -> str:
    """The value of a variable that has no default."""
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required")
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A duration in seconds, more than 0."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r}: must be more than 0")
    return value


def whole_number(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
    what: str = "a whole number",
) -> int:
    """An integer from `minimum` to `maximum` (when given)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be {what}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{name}={raw!r}: must be {bounds}")
    return value


def _readable(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise ConfigError(f"{name}={path}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}={path}: not a text file") from None


def _check_seed(name: str, path: str, seed: str) -> None:
    """A user's NKey seed, as `nk -gen user` writes it: "SU" and 56 more characters."""
    import nkeys  # type: ignore[import-untyped]  # nats-py's own dependency for NKeys

    try:
        nkeys.from_seed(bytearray(seed.encode()))
    except (nkeys.NkeysError, ValueError):
        raise ConfigError(f"{name}={path}: does not hold an NKey seed") from None
    if not seed.startswith("SU"):
        raise ConfigError(f"{name}={path}: holds an NKey seed, but not a user's (SU…)")


def _check_creds(name: str, path: str, text: str) -> None:
    """A creds file: a user JWT and its NKey seed, each between BEGIN/END lines."""
    if "-----BEGIN NATS USER JWT-----" not in text or "SEED-----" not in text:
        raise ConfigError(f"{name}={path}: not a NATS creds file (a user JWT and an NKey seed)")


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    """A plugin's name; whether one is installed under it is known when it is loaded."""
    return env.get(name, "").strip() or default


def _pairs(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Comma-separated key=value pairs; a service's own keys are refused."""
    raw = env.get(name, "").strip()
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, equals, value = (text.strip() for text in item.partition("="))
        if not equals or not key:
            raise ConfigError(f"{name}={raw!r}: {item!r} is not key=value")
        if key in SERVICE_METADATA:
            raise ConfigError(f"{name}={raw!r}: {key!r} is set by the service itself")
        pairs[key] = value
    return pairs


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
    return value
