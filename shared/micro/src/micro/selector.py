"""Pick a node of a named service: load balancing on the client side.

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
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

from micro.errors import Unavailable
from micro.registry import Event, Node, Registry, Watcher
from micro.tasks import Tasks

Strategy = Literal["round_robin", "random"]

log = logging.getLogger(__name__)


@dataclass
class _Cached:
    nodes: tuple[Node, ...]
    expires_at: float


class Selector:
    def __init__(
        self, registry: Registry, strategy: Strategy = "round_robin", cache_ttl: float = 10.0
    ) -> None:
        if strategy not in get_args(Strategy):
            raise ValueError(f"unknown selector strategy {strategy!r}: round_robin or random")
        self.registry = registry
        self.strategy = strategy
        self.cache_ttl = cache_ttl
        self._cache: dict[str, _Cached] = {}
        self._turns: dict[str, int] = {}
        self._lookups: dict[str, asyncio.Lock] = {}
        self._watcher: Watcher | None = None
        self._tasks = Tasks("selector")
        self._closed = False

    async def select(self, service: str, exclude: Collection[str] = frozenset()) -> Node:
        """A node of `service` whose id is not in `exclude`.

        Raises `ServiceNotFound` when the service has no node, and
        `Unavailable` when every node is excluded."""
        nodes = await self._nodes(service)
        if exclude:
            nodes = tuple(node for node in nodes if node.id not in exclude)
            if not nodes:
                raise Unavailable(f'service "{service}": no node left to try')
        if self.strategy == "random":
            return random.choice(nodes)
        turn = self._turns.get(service, 0)
        self._turns[service] = turn + 1
        return nodes[turn % len(nodes)]

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

    async def _nodes(self, service: str) -> tuple[Node, ...]:
        cached = self._cache.get(service)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached.nodes
        return await self._look_up(service)

    async def _look_up(self, service: str) -> tuple[Node, ...]:
        if self._closed:
            raise RuntimeError("selector is closed")
        self._start_watching()
        # Concurrent callers of one service share a single registry lookup.
        async with self._lookups.setdefault(service, asyncio.Lock()):
            cached = self._cache.get(service)
            if cached is not None and cached.expires_at > time.monotonic():
                return cached.nodes
            records = await self.registry.get_service(service)
            nodes = tuple({node.id: node for r in records for node in r.nodes}.values())
            self._cache[service] = _Cached(nodes, time.monotonic() + self.cache_ttl)
            return nodes

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
        if nodes:
            cached.nodes = nodes
        else:
            del self._cache[event.service.name]
