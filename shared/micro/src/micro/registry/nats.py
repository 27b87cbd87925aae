"""Discovery by broadcast query over NATS, as go-plugins' NATS registry did.

Nothing is stored in NATS. Each process keeps its own nodes, with their
leases, in a `MemoryRegistry`, and answers the queries that every lookup
broadcasts on `micro.registry.query`. A lookup gathers the answers until
the replies go quiet (`quiet_window` after the last one) or `query_timeout`
ends. Registrations and deregistrations are announced on
`micro.registry.watch`, with the ttl, for watchers.

What go-plugins lacked: deregistration removes a node at once, and a node
that is not registered again within its ttl is no longer answered for, even
when its process is stuck with its connection open; watchers expire it too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any, get_args

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from micro.config import NO_LOGIN, NatsLogin, Options
from micro.errors import ServiceNotFound
from micro.nats_client import connect
from micro.registry.memory import MemoryRegistry
from micro.registry.types import Event, EventType, Node, ServiceRecord
from micro.registry.watcher import ExpiringWatcher

QUERY_SUBJECT = "micro.registry.query"
WATCH_SUBJECT = "micro.registry.watch"

log = logging.getLogger(__name__)


class NatsRegistry:
    name = "nats"

    def __init__(
        self,
        nats_url: str,
        *,
        login: NatsLogin = NO_LOGIN,
        query_timeout: float = 1.0,
        quiet_window: float = 0.05,
        connect_timeout: float = 5.0,
    ) -> None:
        self.nats_url = nats_url
        self.login = login
        self.connect_timeout = connect_timeout
        self.query_timeout = query_timeout
        self.quiet_window = quiet_window
        self._local = MemoryRegistry()
        self._ttls: dict[tuple[str, str], float] = {}
        self._watchers: set[ExpiringWatcher] = set()
        self._nc: Client | None = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> None:
        """Connect and subscribe; every other method calls it when needed."""
        await self._connection()

    async def register(self, service: ServiceRecord, ttl: float) -> None:
        nc = await self._connection()
        known = {
            node.id
            for record in await self._local_records(service.name)
            if record.version == service.version
            for node in record.nodes
        }
        await self._local.register(service, ttl)
        self._ttls[(service.name, service.version)] = ttl
        created = [node for node in service.nodes if node.id not in known]
        updated = [node for node in service.nodes if node.id in known]
        await self._announce(nc, "create", service, created, ttl)
        await self._announce(nc, "update", service, updated, ttl)

    async def deregister(self, service: ServiceRecord) -> None:
        nc = await self._connection()
        await self._local.deregister(service)
        await self._announce(nc, "delete", service, list(service.nodes), None)

    async def get_service(self, name: str) -> list[ServiceRecord]:
        records = [record for record in await self._query(name) if record.name == name]
        if not records:
            raise ServiceNotFound(name, self.name)
        return records

    async def list_services(self) -> list[ServiceRecord]:
        return await self._query(None)

    def watch(self, service: str | None = None) -> ExpiringWatcher:
        watcher = ExpiringWatcher(service, on_stop=self._watchers.discard, ready=self.connect)
        self._watchers.add(watcher)
        return watcher

    async def close(self) -> None:
        """Stop answering and watching. Deregistering is the caller's job."""
        for watcher in list(self._watchers):
            await watcher.stop()
        await self._local.close()
        if self._nc is not None:
            nc, self._nc = self._nc, None
            await nc.close()

    async def _connection(self) -> Client:
        if self._nc is not None:
            return self._nc
        async with self._connecting:
            if self._nc is None:
                nc = await connect(
                    self.nats_url,
                    "registry nats",
                    login=self.login,
                    connect_timeout=self.connect_timeout,
                )
                await nc.subscribe(QUERY_SUBJECT, cb=self._answer)
                await nc.subscribe(WATCH_SUBJECT, cb=self._on_announcement)
                await nc.flush()
                self._nc = nc
            return self._nc

    async def _local_records(self, name: str | None) -> list[ServiceRecord]:
        """This process's live records (of one service, or all)."""
        records = await self._local.list_services()
        return [record for record in records if name is None or record.name == name]

    async def _announce(
        self,
        nc: Client,
        kind: EventType,
        service: ServiceRecord,
        nodes: list[Node],
        ttl: float | None,
    ) -> None:
        if nodes:
            event = {"type": kind, "service": replace(service, nodes=tuple(nodes)).to_dict()}
            await nc.publish(WATCH_SUBJECT, json.dumps({**event, "ttl": ttl}).encode())

    async def _on_announcement(self, msg: Msg) -> None:
        try:
            data = json.loads(msg.data)
            kind: EventType = data["type"]
            if kind not in get_args(EventType):
                raise ValueError(kind)
            event = Event(kind, ServiceRecord.from_dict(data["service"]))
            ttl = None if data["ttl"] is None else float(data["ttl"])
        except (ValueError, KeyError, TypeError):
            log.warning("registry nats: ignoring a malformed announcement: %r", msg.data[:200])
            return
        for watcher in list(self._watchers):
            watcher.offer(event, ttl)

    async def _answer(self, msg: Msg) -> None:
        """Answer a lookup with this process's live records, if it has any."""
        try:
            name = json.loads(msg.data)["service"]
        except (ValueError, KeyError, TypeError):
            log.warning("registry nats: ignoring a malformed query: %r", msg.data[:200])
            return
        records = await self._local_records(name)
        if records and msg.reply and self._nc is not None:
            answer = [
                {"service": r.to_dict(), "ttl": self._ttls.get((r.name, r.version))}
                for r in records
            ]
            await self._nc.publish(msg.reply, json.dumps(answer).encode())

    async def _query(self, name: str | None) -> list[ServiceRecord]:
        nc = await self._connection()
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        answers: list[ServiceRecord] = []
        try:
            await nc.publish(QUERY_SUBJECT, json.dumps({"service": name}).encode(), reply=inbox)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.query_timeout
            wait = self.query_timeout
            while wait > 0:
                try:
                    msg = await replies.next_msg(timeout=wait)
                except nats.errors.TimeoutError:
                    break
                answers.extend(_decode_answer(msg.data))
                wait = min(self.quiet_window, deadline - loop.time())
        finally:
            await replies.unsubscribe()
        return _merge(answers)


def _decode_answer(data: bytes) -> list[ServiceRecord]:
    try:
        items: list[dict[str, Any]] = json.loads(data)
        return [ServiceRecord.from_dict(item["service"]) for item in items]
    except (ValueError, KeyError, TypeError):
        log.warning("registry nats: ignoring a malformed answer: %r", data[:200])
        return []


def _merge(records: list[ServiceRecord]) -> list[ServiceRecord]:
    """One record per (name, version), holding the nodes of every answer."""
    merged: dict[tuple[str, str], tuple[ServiceRecord, dict[str, Node]]] = {}
    for record in records:
        _, nodes = merged.setdefault((record.name, record.version), (record, {}))
        nodes.update((node.id, node) for node in record.nodes)
    return [replace(record, nodes=tuple(nodes.values())) for record, nodes in merged.values()]


def from_options(options: Options) -> NatsRegistry:
    """The "nats" plugin, on the NATS server at `options.nats_url`."""
    return NatsRegistry(options.nats_url, login=options.nats_login)
