"""The registry contract, run on every registry of the core.

`RegistryContract` (from `micro.testing`, as plugins use it) holds the
tests; each `Test...` class below runs them against one implementation (the
NATS one against a real nats-server), and adds tests of its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from devstack.ports import free_port
from micro.errors import ServiceNotFound, Unavailable
from micro.registry import Registry
from micro.registry.memory import MemoryRegistry
from micro.registry.nats import NatsRegistry
from micro.testing import RegistryContract, eventually
from micro.testing.registry_contract import (
    LONG_TTL,
    SHORT_TTL,
    finds,
    gone,
    next_event,
    service,
    unique_name,
)


class TestMemoryRegistry(RegistryContract):
    @pytest.fixture
    async def registry(self) -> AsyncIterator[Registry]:
        registry = MemoryRegistry()
        yield registry
        await registry.close()


class TestNatsRegistry(RegistryContract):
    @pytest.fixture
    async def registry(self, nats_url: str) -> AsyncIterator[Registry]:
        registry = NatsRegistry(nats_url)
        await registry.connect()
        yield registry
        await registry.close()

    @pytest.fixture
    async def peer(self, nats_url: str) -> AsyncIterator[NatsRegistry]:
        """Another process's registry, as far as NATS can tell."""
        peer = NatsRegistry(nats_url)
        await peer.connect()
        yield peer
        await peer.close()

    async def test_a_node_is_found_from_another_process(
        self, registry: Registry, peer: NatsRegistry
    ) -> None:
        name = unique_name()
        await peer.register(service(name, "a", "b"), ttl=10)

        await finds(registry, name, {"a", "b"})

        await peer.deregister(service(name, "a"))
        await finds(registry, name, {"b"})

    async def test_the_answers_of_every_process_are_merged(
        self, registry: Registry, peer: NatsRegistry
    ) -> None:
        name = unique_name()
        await peer.register(service(name, "a"), ttl=10)
        await registry.register(service(name, "b"), ttl=10)

        async def both_found() -> bool:
            # One lookup may miss a process that answers after the quiet window.
            [record] = await registry.get_service(name)
            return {node.id for node in record.nodes} == {"a", "b"}

        await eventually(both_found)

    async def test_a_stuck_process_is_not_answered_for_after_its_ttl(
        self, registry: Registry, peer: NatsRegistry
    ) -> None:
        """The peer stays connected and keeps answering, but stopped heartbeating."""
        name = unique_name()
        await peer.register(service(name, "a"), ttl=LONG_TTL)
        await finds(registry, name, {"a"})

        await peer.register(service(name, "a"), ttl=SHORT_TTL)  # its last heartbeat

        await eventually(lambda: gone(registry, name), within=SHORT_TTL + 3)

    async def test_watchers_expire_a_node_whose_process_died(
        self, registry: Registry, nats_url: str
    ) -> None:
        name = unique_name()
        watcher = registry.watch(name)
        doomed = NatsRegistry(nats_url)
        try:
            await doomed.register(service(name, "a"), ttl=SHORT_TTL)
            await doomed.close()  # gone without deregistering

            events = [await next_event(watcher, within=SHORT_TTL + 3) for _ in range(2)]
        finally:
            await watcher.stop()

        assert [e.type for e in events] == ["create", "delete"]

    async def test_a_lookup_returns_soon_after_the_last_answer(self, nats_url: str) -> None:
        registry = NatsRegistry(nats_url, query_timeout=3.0)
        try:
            name = unique_name()
            await registry.register(service(name, "a"), ttl=10)

            started = time.monotonic()
            await registry.get_service(name)

            assert time.monotonic() - started < 1.0
        finally:
            await registry.close()

    async def test_a_missing_service_is_reported_within_the_query_timeout(
        self, registry: NatsRegistry
    ) -> None:
        started = time.monotonic()
        with pytest.raises(ServiceNotFound):
            await registry.get_service(unique_name())

        assert time.monotonic() - started < registry.query_timeout + 0.2

    async def test_an_unreachable_nats_is_a_clear_error(self) -> None:
        registry = NatsRegistry(f"nats://127.0.0.1:{free_port()}", connect_timeout=0.3)
        try:
            with pytest.raises(
                Unavailable, match="registry nats: cannot connect to NATS at nats://"
            ):
                await registry.get_service("shippy.user")
        finally:
            await registry.close()
