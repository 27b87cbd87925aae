"""Several services in one process, on a memory registry and broker of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from micro.broker.memory import MemoryBroker
from micro.client import Client
from micro.config import Options
from micro.registry.memory import MemoryRegistry
from micro.selector import Selector
from micro.service import Parts, Service

MEMORY = Options(
    registry="memory",
    broker="memory",
    server_address="127.0.0.1:0",
    shutdown_timeout=5.0,
)
"""What a `MemoryStack`'s services run with unless told otherwise."""


class MemoryStack:
    """A memory registry and broker, the services made on them, and a client
    that finds those services. `async with` closes all of it, in reverse order."""

    def __init__(self, options: Options = MEMORY) -> None:
        self.options = options
        self.registry = MemoryRegistry()
        self.broker = MemoryBroker()
        self.selector = Selector(self.registry)
        self.client = Client(self.registry, self.selector, options.client_timeout, options=options)
        self._started: list[Service] = []

    @property
    def parts(self) -> Parts:
        """This stack's registry and broker, for a `build_service(..., **stack.parts)`."""
        return {"registry": self.registry, "broker": self.broker}

    def service(self, name: str, version: str = "latest", **options: Any) -> Service:
        """A service on this stack's registry and broker; `options` override
        fields of the stack's `Options` (say `register_ttl=0.5`)."""
        return Service(
            name,
            version,
            replace(self.options, **options),
            registry=self.registry,
            broker=self.broker,
        )

    async def start(self, *services: Service) -> None:
        """Start `services` in order; the stack stops them when it closes."""
        for service in services:
            await service.start()
            self._started.append(service)

    async def settle(self) -> None:
        """Wait until every event published so far, and every event their
        handlers published in turn, has been handled."""
        await self.broker.settle()

    async def close(self) -> None:
        started, self._started = self._started, []
        for service in reversed(started):
            await service.stop()
        await self.client.close()
        await self.selector.close()
        await self.broker.disconnect()
        await self.registry.close()

    async def __aenter__(self) -> MemoryStack:
        await self.broker.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


__all__: Sequence[str] = ["MEMORY", "MemoryStack"]
