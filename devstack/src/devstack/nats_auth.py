"""NATS with authorization, as `make run` starts it: one login per service,
one for the command-line clients, one for the operator, and what each may
publish and subscribe to.

The logins' secrets are made the first time and kept in the var directory's
`nats-logins/` (the directory 0700, every file 0600): an NKey seed per service
and for the operator (`user-service.nk`, …, `operator.nk`; a service gets the
path of its own as `NATS_NKEY`), and the CLIs' password (`cli.password`). The
server's config (mode 0600) holds the public keys and that password, which
is not secret from anyone who may read the config: a client without a
login is the CLIs' login all the same.

What each login may do (subjects as the micro core uses them):

| login             | publish                                   | subscribe                          |
|-------------------|-------------------------------------------|------------------------------------|
| each service      | `micro.registry.query`, `…watch` (its     | `micro.registry.query`, `…watch`,  |
|                   | registrations), `_INBOX.>` (its answers), | its own inboxes `_INBOX.shippy.    |
|                   | `$JS.API.>`, `$JS.ACK.>`, `micro.dead.>`, | <login>.>`, `micro.rpc.<its        |
|                   | `micro.rpc.>`, and its own events only    | name>.>`, `$SRV.>`                 |
|                   | (user-service: `user.created`)            |                                    |
| cli (user-cli,    | `micro.registry.query`, `micro.rpc.>`,    | `micro.registry.query`, `…watch`,  |
| consignment-cli)  | `$SRV.>`                                  | `_INBOX.>`; denied: `_INBOX.       |
|                   |                                           | shippy.>`, the events, `micro.dead.>` |
| operator          | everything (shippy-dead-letters replays   | everything                         |
|                   | events onto their topics; devstack's own  |                                    |
|                   | checks and the tests)                     |                                    |

So a CLI (or anyone on the machine: a client with no login is the CLI's,
`no_auth_user`) can look services up and call them, but cannot register a
node (it may not announce on `micro.registry.watch` nor answer a lookup on
`_INBOX.>`), nor publish an event, nor touch JetStream, nor read what is
sent to a service's inboxes (its JetStream deliveries, the answers it is
given): each service's inboxes have a prefix of its own (`NATS_INBOX_PREFIX`)
that only it may subscribe to. What stays open: a CLI could read another
CLI's answers (both are the same login, as anyone on the machine is).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
from micro.broker.dead_letters import SUBJECT_PREFIX as DEAD_LETTERS
from micro.config import NatsLogin
from micro.registry.nats import QUERY_SUBJECT, WATCH_SUBJECT

from devstack.nats import quoted
from devstack.secret_files import kept_secret
from devstack.services import ServiceSpec

INBOXES = "_INBOX.>"
"""Where answers go: to registry lookups, JetStream requests, RPCs; and pushed deliveries."""
SERVICE_INBOXES = "_INBOX.shippy"
"""Under it, each service's inboxes (`NATS_INBOX_PREFIX=_INBOX.shippy.<login>`): only it may read them."""
JETSTREAM_API = "$JS.API.>"
JETSTREAM_ACKS = "$JS.ACK.>"
SERVICES_API = "$SRV.>"
"""The NATS services API (ADR-32): PING, INFO, STATS."""
RPC_PREFIX = "micro.rpc"
"""The NATS RPC transport's subjects: `micro.rpc.<service name>.<...>`."""
CLI = "cli"
OPERATOR = "operator"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    subscribe_deny: tuple[str, ...] = ()

    def config(self) -> str:
        deny = f", deny: {_list(self.subscribe_deny)}" if self.subscribe_deny else ""
        return (
            f"{{ publish: {{ allow: {_list(self.publish)} }},"
            f" subscribe: {{ allow: {_list(self.subscribe)}{deny} }} }}"
        )


def inbox_prefix(login: str) -> str:
    return f"{SERVICE_INBOXES}.{login}"


def service_permissions(login: str, service: str, events: Sequence[str]) -> Permissions:
    """The service of `login` ("user-service"), registered as `service`
    ("shippy.user"), that publishes `events`."""
    return Permissions(
        publish=(
            QUERY_SUBJECT,
            WATCH_SUBJECT,
            INBOXES,
            JETSTREAM_API,
            JETSTREAM_ACKS,
            f"{DEAD_LETTERS}.>",
            f"{RPC_PREFIX}.>",
            *events,
        ),
        subscribe=(
            QUERY_SUBJECT,
            WATCH_SUBJECT,
            f"{inbox_prefix(login)}.>",  # its own inboxes only
            f"{RPC_PREFIX}.{service}.>",
            SERVICES_API,
        ),
    )


def cli_permissions(events: Sequence[str]) -> Permissions:
    """The CLIs'. A JetStream delivery reaches its inbox under the event's own
    subject, so the deny list names the events too: denied subjects are
    filtered out of what a wildcard subscription (`_INBOX.>`) receives."""
    return Permissions(
        publish=(QUERY_SUBJECT, f"{RPC_PREFIX}.>", SERVICES_API),
        subscribe=(QUERY_SUBJECT, WATCH_SUBJECT, INBOXES),
        subscribe_deny=(f"{SERVICE_INBOXES}.>", f"{DEAD_LETTERS}.>", *events),
    )


@dataclass(frozen=True)
class NatsLogins:
    """The logins of one stack, kept in `folder` (`var/nats-logins/`)."""

    folder: Path
    services: tuple[ServiceSpec, ...]

    @classmethod
    def keep(cls, folder: Path, services: Sequence[ServiceSpec]) -> NatsLogins:
        """The logins kept in `folder`, each secret made there the first time."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        logins = cls(folder, tuple(services))
        for name in (*(s.name for s in services), OPERATOR):
            kept_secret(logins.seed_file(name), new_seed)
        kept_secret(folder / f"{CLI}.password", lambda: secrets.token_urlsafe(24))
        return logins

    def seed_file(self, login: str) -> Path:
        return self.folder / f"{login}.nk"

    def login(self, name: str) -> NatsLogin:
        """How `name` (a service's login or the operator) logs in: `NATS_NKEY`."""
        return NatsLogin(nkey_seed_file=str(self.seed_file(name)))

    @property
    def cli_password(self) -> str:
        return (self.folder / f"{CLI}.password").read_text().strip()

    def public_key(self, login: str) -> str:
        seed = bytearray(self.seed_file(login).read_bytes().strip())
        return str(nkeys.from_seed(seed).public_key.decode())

    def config(self) -> str:
        """nats-server's `authorization` block and `no_auth_user`, with comments."""
        users = []
        events = [event for service in self.services for event in service.publishes]
        for service in self.services:
            permissions = service_permissions(service.name, service.service, service.publishes)
            users += [
                f"    # {service.name} ({service.service}): registers, answers, uses"
                " JetStream and micro.rpc;"
                f" publishes events: {', '.join(service.publishes) or 'none'}",
                f"    {{ nkey: {quoted(self.public_key(service.name))},"
                f" permissions: {permissions.config()} }}",
            ]
        users += [
            "    # cli (user-cli, consignment-cli, and any client without a login): looks"
            " services up and calls them; cannot register, answer lookups, publish events"
            " or use JetStream",
            # In the clear, not bcrypt: nats-server gives a client without a login the
            # no_auth_user's password as its own, which matches only the clear text.
            f"    {{ user: {CLI}, password: {quoted(self.cli_password)},"
            f" permissions: {cli_permissions(events).config()} }}",
            "    # operator (shippy-dead-letters, devstack's checks, the tests): everything",
            f"    {{ nkey: {quoted(self.public_key(OPERATOR))} }}",
        ]
        return "\n".join(
            [
                "# Written by devstack (devstack.nats_auth): one login per service, see"
                " docs/security.md.",
                "authorization {",
                "  users: [",
                *users,
                "  ]",
                "}",
                f"no_auth_user: {CLI}",
            ]
        )


def new_seed() -> str:
    """A new NKey seed for a user (`SU…`), as `nk -gen user` makes one."""
    return str(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode())


def service_env(logins: NatsLogins | None, login: str) -> Mapping[str, str]:
    """The variables that give a service its login (none without authorization)."""
    if logins is None:
        return {}
    return {"NATS_NKEY": str(logins.seed_file(login)), "NATS_INBOX_PREFIX": inbox_prefix(login)}


def _list(subjects: Sequence[str]) -> str:
    return "[" + ", ".join(quoted(s) for s in subjects) + "]"
