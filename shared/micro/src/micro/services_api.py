"""The NATS services API (ADR-32) for every service, whatever its transport.

    nats req '$SRV.PING' ''                 # every instance of every service
    nats req '$SRV.INFO.shippy_user' ''     # every instance of shippy.user
    nats req '$SRV.STATS.shippy_user.<id>' ''   # one instance
    nats micro ls                           # the NATS CLI lists them

Each instance answers PING, INFO and STATS, in all three forms, with the JSON
of nats-py's `nats.micro` (types `io.nats.micro.v1.ping_response`, ...): its
name, version, id, metadata and endpoints, and for each endpoint the calls
it took, those that failed, and their processing time. The counts come from
`micro.server.Server.stats`, so a gRPC service's calls are counted just as a
NATS one's are.

ADR-32 allows names and ids of `[A-Za-z0-9_-]` only, and semantic versions:
"shippy.user" is announced as `shippy_user` (its own name is in the metadata,
under `micro_service`), an id has its other characters turned to `_`, and a
version that is not semantic ("latest") becomes a pre-release of 0.0.0
("0.0.0-latest"). The metadata also says the transport (`protocol`), and a
gRPC service's `grpc_address`. A gRPC endpoint's subject is empty: it is
served over gRPC, not on NATS.

`nats.micro.Service` itself is not used: it would answer for the endpoints it
serves itself only (see `micro.nats_transport` for why those are not its own).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.micro import service as adr32

log = logging.getLogger("micro.services_api")


def token(text: str) -> str:
    """`text` as one NATS subject token, and as an ADR-32 name: [A-Za-z0-9_-]."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def semantic_version(version: str) -> str:
    """`version` if it is a semantic version, else a pre-release of 0.0.0 named after it."""
    if adr32.SEMVER_REGEX.match(version):
        return version
    return f"0.0.0-{re.sub(r'[^0-9A-Za-z-]', '-', version) or 'unknown'}"


@dataclass
class EndpointStats:
    """The calls one method took: what STATS reports for it."""

    method: str
    """The method's name, "shippy.user.v1.UserService/Create"."""
    num_requests: int = 0
    num_errors: int = 0
    processing_time: int = 0
    """Nanoseconds, in total."""
    last_error: str = ""

    def record(self, elapsed_ns: int, error: str | None) -> None:
        self.num_requests += 1
        self.processing_time += elapsed_ns
        if error is not None:
            self.num_errors += 1
            self.last_error = error


@dataclass(frozen=True)
class Endpoint:
    stats: EndpointStats
    subject: str = ""
    """The NATS subject it is served on; empty when it is served over gRPC."""
    queue_group: str = ""


@dataclass(frozen=True)
class Identity:
    name: str
    """The service's own name, "shippy.user"."""
    version: str
    id: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class ServicesApi:
    """Answers `$SRV.PING|INFO|STATS` for one service instance on a NATS connection."""

    def __init__(self, identity: Identity, endpoints: Sequence[Endpoint]) -> None:
        self.name = token(identity.name)
        self.id = token(identity.id)
        self.version = semantic_version(identity.version)
        self.metadata = {"micro_service": identity.name, **identity.metadata}
        self.endpoints = tuple(endpoints)
        self.started = datetime.now(UTC).replace(tzinfo=None)
        self._subscriptions: list[Subscription] = []

    async def start(self, nc: NatsClient) -> None:
        answers: dict[adr32.ServiceVerb, Callable[[], dict[str, Any]]] = {
            adr32.ServiceVerb.PING: self.ping,
            adr32.ServiceVerb.INFO: self.info,
            adr32.ServiceVerb.STATS: self.stats,
        }
        self.started = datetime.now(UTC).replace(tzinfo=None)
        for verb, answer in answers.items():
            for name, id in ((None, None), (self.name, None), (self.name, self.id)):
                subject = adr32.control_subject(verb, name=name, id=id)
                self._subscriptions.append(await nc.subscribe(subject, cb=_answering(nc, answer)))
        await nc.flush()

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            try:
                await subscription.unsubscribe()
            except Exception as error:  # a closed connection has dropped them already
                log.debug("services api %s: unsubscribe: %s", self.name, error)

    def ping(self) -> dict[str, Any]:
        return adr32.ServicePing(
            id=self.id, name=self.name, version=self.version, metadata=self.metadata
        ).to_dict()

    def info(self) -> dict[str, Any]:
        return adr32.ServiceInfo(
            id=self.id,
            name=self.name,
            version=self.version,
            metadata=self.metadata,
            description="",
            endpoints=[
                adr32.EndpointInfo(
                    name=token(e.stats.method),
                    subject=e.subject,
                    queue_group=e.queue_group,
                    metadata={"grpc_method": f"/{e.stats.method}"},
                )
                for e in self.endpoints
            ],
        ).to_dict()

    def stats(self) -> dict[str, Any]:
        return adr32.ServiceStats(
            id=self.id,
            name=self.name,
            version=self.version,
            metadata=self.metadata,
            started=self.started,
            endpoints=[
                adr32.EndpointStats(
                    name=token(e.stats.method),
                    subject=e.subject,
                    queue_group=e.queue_group,
                    num_requests=e.stats.num_requests,
                    num_errors=e.stats.num_errors,
                    processing_time=e.stats.processing_time,
                    average_processing_time=e.stats.processing_time // max(e.stats.num_requests, 1),
                    last_error=e.stats.last_error,
                )
                for e in self.endpoints
            ],
        ).to_dict()


def _answering(nc: NatsClient, answer: Callable[[], dict[str, Any]]) -> Callable[[Msg], Any]:
    async def respond(msg: Msg) -> None:
        if msg.reply:
            await nc.publish(msg.reply, json.dumps(answer()).encode())

    return respond
