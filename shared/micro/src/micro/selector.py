"""Pick a node of a named service: load balancing on the client side.

    selector = Selector(registry, "least_outstanding")
    node = await selector.select("shippy.user", filter=Version("2.0"))

A strategy (`MICRO_SELECTOR`) chooses among the nodes a call may go to:

- `round_robin` (the default): each node in turn.
- `random`: any node, at random.
- `least_outstanding`: the node with the fewest calls in flight from this
  process (ties in turn). The client tells the selector when a call starts
  and when it ends (`call_started`, `call_ended`); a streaming call is in
  flight until its stream ends.

A filter narrows the nodes a call may go to, as go-micro's selector filters
do. A client's stub takes one, so a canary gets only the calls meant for it:

    canary = client.stub(UserServiceStub, "shippy.user", filter=NodeMetadata(track="canary"))
    v2 = client.stub(UserServiceStub, "shippy.user", filter=Version("2.0"))
    both = Version("2.0") & NodeMetadata(track="canary")

`Version` matches the version the node registered with (exactly);
`NodeMetadata` matches nodes whose metadata holds every given key with its
value (a service's node has its `MICRO_METADATA` pairs, its `version` and
its `protocol`). A filter that leaves no node raises `ServiceNotFound` naming the
service and the filter, as an unknown service does: the registry knows no
node to call.

Lookups are cached per service, so a call to a known service makes no
registry round trip. One watch, started with the first lookup and owned by
the selector, keeps the cache current: a deleted node leaves it at once, a
new one joins it. A cache entry also ends after `cache_ttl` seconds, in case
an event was missed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from micro.errors import ServiceNotFound, Unavailable
from micro.registry import Event, Node, Registry, ServiceRecord, Watcher
from micro.tasks import Tasks

Strategy = Literal["round_robin", "random", "least_outstanding"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

log = logging.getLogger(__name__)


class Filter:
    """Which nodes of a service a call may go to; `a & b` needs both."""

    def accepts(self, version: str, node: Node) -> bool:
        """Whether a call may go to `node`, registered at `version`."""
        raise NotImplementedError

    def __and__(self, other: Filter) -> Filter:
        return AllOf((self, other))


@dataclass(frozen=True)
class Version(Filter):
    """Nodes registered at exactly this version."""

    version: str

    def accepts(self, version: str, node: Node) -> bool:
        return version == self.version

    def __str__(self) -> str:
        return f'version "{self.version}"'


class NodeMetadata(Filter):
    """Nodes whose metadata holds every pair given: `NodeMetadata(track="canary")`,
    or a mapping for keys that are not Python names."""

    def __init__(self, pairs: Mapping[str, str] | None = None, /, **more: str) -> None:
        self.pairs = {**(pairs or {}), **more}
        if not self.pairs:
            raise ValueError("NodeMetadata needs at least one key and value")

    def accepts(self, version: str, node: Node) -> bool:
        return all(node.metadata.get(key) == value for key, value in self.pairs.items())

    def __str__(self) -> str:
        return "metadata " + ", ".join(f'{key}="{value}"' for key, value in self.pairs.items())

    def __repr__(self) -> str:
        return f"NodeMetadata({self.pairs!r})"


@dataclass(frozen=True)
class AllOf(Filter):
    """Nodes every one of `filters` accepts."""

    filters: tuple[Filter, ...]

    def accepts(self, version: str, node: Node) -> bool:
        return all(f.accepts(version, node) for f in self.filters)

    def __str__(self) -> str:
        return " and ".join(str(f) for f in self.filters)


@dataclass
class _Cached:
    nodes: tuple[Node, ...]
    versions: dict[str, str]
    """The version each node (by id) registered with."""
    expires_at: float


class Selector:
    def __init__(
        self, registry: Registry, strategy: Strategy = "round_robin", cache_ttl: float = 10.0
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown selector strategy {strategy!r}: one of {', '.join(STRATEGIES)}"
            )
        self.registry = registry
        self.strategy = strategy
        self.cache_ttl = cache_ttl
        self._cache: dict[str, _Cached] = {}
        self._turns: dict[str, int] = {}
        self._outstanding: dict[str, int] = {}
        """Calls in flight from this process, by node id (none: absent)."""
        self._lookups: dict[str, asyncio.Lock] = {}
        self._watcher: Watcher | None = None
        self._tasks = Tasks("selector")
        self._closed = False

    async def select(
        self,
        service: str,
        exclude: Collection[str] = frozenset(),
        filter: Filter | None = None,
    ) -> Node:
        """A node of `service` that `filter` accepts and whose id is not in `exclude`.

        Raises `ServiceNotFound` when the service has no node, or none that
        `filter` accepts, and `Unavailable` when every node is excluded."""
        cached = await self._cached(service)
        nodes = cached.nodes
        if filter is not None:
            nodes = tuple(n for n in nodes if filter.accepts(cached.versions[n.id], n))
            if not nodes:
                raise ServiceNotFound(
                    service,
                    self.registry.name,
                    f"none of its {len(cached.nodes)} nodes has {filter}",
                )
        if exclude:
            nodes = tuple(node for node in nodes if node.id not in exclude)
            if not nodes:
                raise Unavailable(f'service "{service}": no node left to try')
        if self.strategy == "random":
            return random.choice(nodes)
        if self.strategy == "least_outstanding":
            fewest = min(self._outstanding.get(node.id, 0) for node in nodes)
            nodes = tuple(node for node in nodes if self._outstanding.get(node.id, 0) == fewest)
        turn = self._turns.get(service, 0)
        self._turns[service] = turn + 1
        return nodes[turn % len(nodes)]

    def call_started(self, node: Node) -> None:
        """A call to `node` is in flight (the client says so)."""
        self._outstanding[node.id] = self._outstanding.get(node.id, 0) + 1

    def call_ended(self, node: Node) -> None:
        """A call `call_started` counted has ended, however it ended."""
        left = self._outstanding.get(node.id, 0) - 1
        if left > 0:
            self._outstanding[node.id] = left
        else:
            self._outstanding.pop(node.id, None)

    def outstanding(self, node: Node) -> int:
        """Calls to `node` in flight from this process."""
        return self._outstanding.get(node.id, 0)

    def invalidate(self, service: str) -> None:
        """Forget the cached nodes of `service`: the next select looks it up."""
        self._cache.pop(service, None)

    async def close(self) -> None:
        """Stop the watch and wait for it. The registry stays open."""
        self._closed = True
        if self._watcher is not None:
            await self._watcher.stop()
        await self._tasks.aclose()
        self._cache.clear()

    async def _cached(self, service: str) -> _Cached:
        cached = self._cache.get(service)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached
        return await self._look_up(service)

    async def _look_up(self, service: str) -> _Cached:
        if self._closed:
            raise RuntimeError("selector is closed")
        self._start_watching()
        # Concurrent callers of one service share a single registry lookup.
        async with self._lookups.setdefault(service, asyncio.Lock()):
            cached = self._cache.get(service)
            if cached is not None and cached.expires_at > time.monotonic():
                return cached
            records = await self.registry.get_service(service)
            nodes, versions = _nodes_of(records)
            cached = self._cache[service] = _Cached(
                nodes, versions, time.monotonic() + self.cache_ttl
            )
            return cached

    def _start_watching(self) -> None:
        if self._watcher is None:
            self._watcher = self.registry.watch()
            self._tasks.spawn(self._follow(self._watcher), name="registry watch")

    async def _follow(self, watcher: Watcher) -> None:
        try:
            async for event in watcher:
                self._apply(event)
        except Exception:
            log.exception("selector: registry watch failed; the cache ttl still applies")

    def _apply(self, event: Event) -> None:
        cached = self._cache.get(event.service.name)
        if cached is None:
            return  # not cached: the next select looks it up anyway
        changed = {node.id: node for node in event.service.nodes}
        if event.type == "delete":
            nodes = tuple(node for node in cached.nodes if node.id not in changed)
        else:
            nodes = tuple({**{n.id: n for n in cached.nodes}, **changed}.values())
            cached.versions.update(dict.fromkeys(changed, event.service.version))
        if nodes:
            cached.nodes = nodes
        else:
            del self._cache[event.service.name]


def _nodes_of(records: Iterable[ServiceRecord]) -> tuple[tuple[Node, ...], dict[str, str]]:
    """Every node of `records` once, and the version each registered with."""
    nodes: dict[str, Node] = {}
    versions: dict[str, str] = {}
    for record in records:
        for node in record.nodes:
            nodes[node.id] = node
            versions[node.id] = record.version
    return tuple(nodes.values()), versions
