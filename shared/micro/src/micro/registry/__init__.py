"""Service discovery: who serves a named service, and at which address.

A `Registry` is a handful of methods (go-micro's interface, in Python). Every
implementation passes the same contract tests (`micro.testing.RegistryContract`):

- `MemoryRegistry`: one process, for unit tests.
- `NatsRegistry`: nodes answer a broadcast query over NATS, as go-plugins'
  NATS registry did, plus what it lacked: working deregistration, a TTL after
  which a node that stopped heartbeating is gone, and watch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from micro.registry.types import Event, EventType, Node, ServiceRecord

__all__ = ["Event", "EventType", "Node", "Registry", "ServiceRecord", "Watcher"]


class Watcher(Protocol):
    """Registry events as they happen; `stop()` ends the iteration."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def stop(self) -> None: ...


class Registry(Protocol):
    name: str
    """Short name used in messages, e.g. "memory" or "nats"."""

    async def register(self, service: ServiceRecord, ttl: float) -> None:
        """Add or refresh the nodes of `service`; they expire `ttl` seconds
        after the last call unless registered again."""
        ...

    async def deregister(self, service: ServiceRecord) -> None:
        """Remove the nodes of `service` at once."""
        ...

    async def get_service(self, name: str) -> list[ServiceRecord]:
        """The live records of `name`, one per version.

        Raises `micro.errors.ServiceNotFound` when no node is alive."""
        ...

    async def list_services(self) -> list[ServiceRecord]: ...

    def watch(self, service: str | None = None) -> Watcher:
        """Events for one service, or for all when `service` is None."""
        ...

    async def close(self) -> None: ...
