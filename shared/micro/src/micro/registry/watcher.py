"""The watcher both registries hand out: their events, plus expiry.

A registry offers each change to its watchers together with the ttl the
nodes were registered with. The watcher keeps a lease per node it has seen
and, when a node is not refreshed within its ttl, yields a "delete" event for
it itself: a node whose process died without deregistering still leaves
every watcher, and nobody has to run a reaper task for that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from micro.registry.types import Event, Node, ServiceRecord

_Key = tuple[str, str, str]
"""(service name, version, node id)"""


@dataclass
class _Lease:
    service: ServiceRecord
    """The node's service, without nodes: the template of its delete event."""
    node: Node
    expires_at: float


class ExpiringWatcher:
    """`async for event in watcher:` until `await watcher.stop()`."""

    def __init__(
        self,
        service: str | None,
        *,
        on_stop: Callable[[ExpiringWatcher], None],
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.service = service
        self._on_stop = on_stop
        self._ready = ready
        self._queue: asyncio.Queue[tuple[Event, float | None] | None] = asyncio.Queue()
        self._leases: dict[_Key, _Lease] = {}
        self._stopped = False

    def offer(self, event: Event, ttl: float | None) -> None:
        """Called by the registry for every change; `ttl` for creates and updates."""
        if self._stopped or (self.service is not None and event.service.name != self.service):
            return
        self._queue.put_nowait((event, ttl))

    def __aiter__(self) -> ExpiringWatcher:
        return self

    async def __anext__(self) -> Event:
        if self._ready is not None:
            await self._ready()
        while not self._stopped:
            expired = self._pop_expired()
            if expired is not None:
                return expired
            try:
                async with asyncio.timeout(self._seconds_to_next_expiry()):
                    item = await self._queue.get()
            except TimeoutError:
                continue
            if item is None:
                break
            event, ttl = item
            self._track(event, ttl)
            return event
        raise StopAsyncIteration

    async def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._queue.put_nowait(None)
            self._on_stop(self)

    def _track(self, event: Event, ttl: float | None) -> None:
        template = replace(event.service, nodes=())
        for node in event.service.nodes:
            key = (template.name, template.version, node.id)
            if event.type == "delete" or ttl is None:
                self._leases.pop(key, None)
            else:
                self._leases[key] = _Lease(template, node, time.monotonic() + ttl)

    def _pop_expired(self) -> Event | None:
        now = time.monotonic()
        for key, lease in self._leases.items():
            if lease.expires_at <= now:
                del self._leases[key]
                return Event("delete", replace(lease.service, nodes=(lease.node,)))
        return None

    def _seconds_to_next_expiry(self) -> float | None:
        if not self._leases:
            return None
        soonest = min(lease.expires_at for lease in self._leases.values())
        return max(0.0, soonest - time.monotonic())
