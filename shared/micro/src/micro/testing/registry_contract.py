"""The registry contract: the tests every `Registry` implementation passes.

The core's memory and NATS registries run them (shared/micro/tests), and a
plugin package proves itself by subclassing `RegistryContract` with a
`registry` fixture of its own. Every test uses service names of its own.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from micro.errors import ServiceNotFound
from micro.registry import Event, Node, Registry, ServiceRecord, Watcher
from micro.testing.waiting import eventually

__all__ = [
    "LONG_TTL",
    "SHORT_TTL",
    "RegistryContract",
    "finds",
    "gone",
    "next_event",
    "node_ids",
    "service",
    "unique_name",
]

SHORT_TTL = 0.3
LONG_TTL = 30.0


def unique_name() -> str:
    return f"shippy.test.{uuid.uuid4().hex[:8]}"


def service(name: str, *node_ids: str, version: str = "1.0.0") -> ServiceRecord:
    nodes = tuple(Node(node_id, f"127.0.0.1:{5000 + i}") for i, node_id in enumerate(node_ids))
    return ServiceRecord(name, version, nodes)


async def node_ids(registry: Registry, name: str) -> set[str]:
    try:
        records = await registry.get_service(name)
    except ServiceNotFound:
        return set()
    return {node.id for record in records for node in record.nodes}


async def gone(registry: Registry, name: str) -> bool:
    return not await node_ids(registry, name)


async def finds(registry: Registry, name: str, expected: set[str]) -> None:
    """Wait until a lookup of `name` answers exactly `expected`: on NATS one
    lookup may miss a process whose answer comes late on a loaded machine."""

    async def found() -> bool:
        return await node_ids(registry, name) == expected

    await eventually(found, waiting_for=f"{name} to have nodes {sorted(expected)}")


async def next_event(watcher: Watcher, within: float = 5.0) -> Event:
    async with asyncio.timeout(within):
        return await anext(aiter(watcher))


class RegistryContract:
    """The tests every registry passes. A subclass provides the `registry`
    fixture: a registry ready for use, closed after the test.

        class TestEtcdRegistry(RegistryContract):
            @pytest.fixture
            async def registry(self, etcd_url: str) -> AsyncIterator[Registry]:
                registry = EtcdRegistry(etcd_url)
                yield registry
                await registry.close()
    """

    async def test_a_registered_node_is_found(self, registry: Registry) -> None:
        name = unique_name()
        await registry.register(service(name, "a"), ttl=10)

        [record] = await registry.get_service(name)

        assert record.name == name
        assert record.version == "1.0.0"
        assert record.nodes == (Node("a", "127.0.0.1:5000"),)

    async def test_every_node_of_a_service_is_found(self, registry: Registry) -> None:
        name = unique_name()
        await registry.register(service(name, "a"), ttl=10)
        await registry.register(service(name, "b"), ttl=10)
        await registry.register(service(name, "c", version="2.0.0"), ttl=10)

        records = {r.version: {n.id for n in r.nodes} for r in await registry.get_service(name)}

        assert records == {"1.0.0": {"a", "b"}, "2.0.0": {"c"}}

    async def test_a_deregistered_node_is_gone_at_once(self, registry: Registry) -> None:
        name = unique_name()
        await registry.register(service(name, "a", "b"), ttl=10)

        await registry.deregister(service(name, "a"))

        await finds(registry, name, {"b"})

    async def test_a_missing_service_is_a_clear_error(self, registry: Registry) -> None:
        message = f'service "shippy.nope" not found in registry {registry.name}'
        with pytest.raises(ServiceNotFound, match=re.escape(message)) as caught:
            await registry.get_service("shippy.nope")
        assert caught.value.service == "shippy.nope"

    async def test_a_node_not_registered_again_expires_after_its_ttl(
        self, registry: Registry
    ) -> None:
        name = unique_name()
        await registry.register(service(name, "a"), ttl=LONG_TTL)
        await finds(registry, name, {"a"})

        await registry.register(service(name, "a"), ttl=SHORT_TTL)  # the last heartbeat

        await eventually(lambda: gone(registry, name), within=SHORT_TTL + 3)

    async def test_registering_again_keeps_a_node_alive(self, registry: Registry) -> None:
        name = unique_name()
        ttl = 2 * SHORT_TTL
        await registry.register(service(name, "a"), ttl=ttl)
        started = time.monotonic()

        while time.monotonic() - started < 1.5 * ttl:
            await asyncio.sleep(ttl / 4)  # the heartbeat interval
            await registry.register(service(name, "a"), ttl=ttl)
            assert await node_ids(registry, name) == {"a"}

    async def test_list_services_holds_every_registered_service(self, registry: Registry) -> None:
        first, second = unique_name(), unique_name()
        await registry.register(service(first, "a"), ttl=10)
        await registry.register(service(second, "b"), ttl=10)

        names = {record.name for record in await registry.list_services()}

        assert {first, second} <= names

    async def test_watch_sees_nodes_come_and_go(self, registry: Registry) -> None:
        name = unique_name()
        watcher = registry.watch(name)
        try:
            await registry.register(service(unique_name(), "other"), ttl=10)  # filtered out
            await registry.register(service(name, "a"), ttl=10)
            await registry.register(service(name, "a"), ttl=10)
            await registry.deregister(service(name, "a"))

            events = [await next_event(watcher) for _ in range(3)]
        finally:
            await watcher.stop()

        assert [(e.type, e.service.name, e.service.nodes[0].id) for e in events] == [
            ("create", name, "a"),
            ("update", name, "a"),
            ("delete", name, "a"),
        ]

    async def test_watch_sees_a_node_expire(self, registry: Registry) -> None:
        name = unique_name()
        watcher = registry.watch(name)
        try:
            await registry.register(service(name, "a"), ttl=SHORT_TTL)
            created = await next_event(watcher)
            expired = await next_event(watcher, within=SHORT_TTL + 3)
        finally:
            await watcher.stop()

        assert (created.type, expired.type) == ("create", "delete")
        assert expired.service.nodes == (Node("a", "127.0.0.1:5000"),)

    async def test_a_stopped_watch_ends_its_iteration(self, registry: Registry) -> None:
        watcher = registry.watch()
        await watcher.stop()

        assert [event async for event in watcher] == []
