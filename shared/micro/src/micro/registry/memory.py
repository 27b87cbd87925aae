"""A registry inside one process: for unit tests and single-process runs.

Each node holds a lease that ends `ttl` seconds after its last
registration; a lookup drops the nodes whose lease has ended. The NATS
registry keeps the nodes of its own process in one of these, too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from micro.config import Options
from micro.errors import ServiceNotFound
from micro.registry.types import Event, EventType, Node, ServiceRecord
from micro.registry.watcher import ExpiringWatcher


@dataclass
class _Version:
    """One version of a service and its nodes, each with its lease end."""

    service: ServiceRecord
    """The last registered record, without nodes."""
    nodes: dict[str, tuple[Node, float]] = field(default_factory=dict)

    def record(self) -> ServiceRecord:
        return replace(self.service, nodes=tuple(node for node, _ in self.nodes.values()))


class MemoryRegistry:
    name = "memory"

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], _Version] = {}
        self._watchers: set[ExpiringWatcher] = set()

    async def register(self, service: ServiceRecord, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be more than 0, got {ttl}")
        self._drop_expired()
        template = replace(service, nodes=())
        version = self._versions.setdefault((service.name, service.version), _Version(template))
        version.service = template
        expires_at = time.monotonic() + ttl
        created = [node for node in service.nodes if node.id not in version.nodes]
        updated = [node for node in service.nodes if node.id in version.nodes]
        for node in service.nodes:
            version.nodes[node.id] = (node, expires_at)
        self._emit("create", template, created, ttl)
        self._emit("update", template, updated, ttl)

    async def deregister(self, service: ServiceRecord) -> None:
        key = (service.name, service.version)
        version = self._versions.get(key)
        if version is None:
            return
        removed = [
            version.nodes.pop(node.id)[0] for node in service.nodes if node.id in version.nodes
        ]
        if not version.nodes:
            del self._versions[key]
        self._emit("delete", version.service, removed, None)

    async def get_service(self, name: str) -> list[ServiceRecord]:
        records = [record for record in await self.list_services() if record.name == name]
        if not records:
            raise ServiceNotFound(name, self.name)
        return records

    async def list_services(self) -> list[ServiceRecord]:
        self._drop_expired()
        return [version.record() for version in self._versions.values()]

    def watch(self, service: str | None = None) -> ExpiringWatcher:
        watcher = ExpiringWatcher(service, on_stop=self._watchers.discard)
        self._watchers.add(watcher)
        return watcher

    async def close(self) -> None:
        for watcher in list(self._watchers):
            await watcher.stop()
        self._versions.clear()

    def _emit(
        self, kind: EventType, service: ServiceRecord, nodes: list[Node], ttl: float | None
    ) -> None:
        if not nodes:
            return
        event = Event(kind, replace(service, nodes=tuple(nodes)))
        for watcher in self._watchers:
            watcher.offer(event, ttl)

    def _drop_expired(self) -> None:
        """Watchers learn of expiry from their own leases: no event here."""
        now = time.monotonic()
        for key, version in list(self._versions.items()):
            version.nodes = {
                node_id: lease for node_id, lease in version.nodes.items() if lease[1] > now
            }
            if not version.nodes:
                del self._versions[key]


def from_options(options: Options) -> MemoryRegistry:
    """The "memory" plugin: a registry of its own for each service that names
    it; to let services find each other, pass them one `MemoryRegistry`."""
    return MemoryRegistry()
