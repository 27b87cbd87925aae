"""The selector picks nodes from the registry and keeps its cache current."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from micro.errors import ServiceNotFound, Unavailable
from micro.registry import Node, ServiceRecord
from micro.registry.memory import MemoryRegistry
from micro.registry.nats import NatsRegistry
from micro.selector import NodeMetadata, Selector, Version
from micro.testing import eventually, unique_name


class CountingRegistry(MemoryRegistry):
    """A memory registry that counts lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def get_service(self, name: str) -> list[ServiceRecord]:
        self.lookups += 1
        return await super().get_service(name)


def service(name: str, *node_ids: str) -> ServiceRecord:
    return ServiceRecord(
        name, "1.0.0", tuple(Node(i, f"127.0.0.1:{5000 + n}") for n, i in enumerate(node_ids))
    )


@pytest.fixture
async def registry() -> AsyncIterator[CountingRegistry]:
    registry = CountingRegistry()
    yield registry
    await registry.close()


@pytest.fixture
async def selector(registry: CountingRegistry) -> AsyncIterator[Selector]:
    selector = Selector(registry, cache_ttl=60)
    yield selector
    await selector.close()


async def test_round_robin_takes_turns(registry: CountingRegistry, selector: Selector) -> None:
    name = unique_name()
    await registry.register(service(name, "a", "b"), ttl=10)

    picked = [(await selector.select(name)).id for _ in range(4)]

    assert picked in (["a", "b", "a", "b"], ["b", "a", "b", "a"])


async def test_random_picks_only_registered_nodes(registry: CountingRegistry) -> None:
    name = unique_name()
    await registry.register(service(name, "a", "b"), ttl=10)
    selector = Selector(registry, strategy="random")
    try:
        picked = {(await selector.select(name)).id for _ in range(50)}
    finally:
        await selector.close()

    assert picked == {"a", "b"}


async def test_excluded_nodes_are_not_picked(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await registry.register(service(name, "a", "b"), ttl=10)

    assert {(await selector.select(name, exclude={"a"})).id for _ in range(4)} == {"b"}
    with pytest.raises(Unavailable, match=re.escape(f'service "{name}"')):
        await selector.select(name, exclude={"a", "b"})


async def test_a_missing_service_is_a_clear_error(selector: Selector) -> None:
    with pytest.raises(
        ServiceNotFound, match=re.escape('service "shippy.nope" not found in registry memory')
    ):
        await selector.select("shippy.nope")


async def test_a_cached_service_needs_no_lookup(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await registry.register(service(name, "a"), ttl=10)

    await asyncio.gather(*(selector.select(name) for _ in range(10)))
    await selector.select(name)

    assert registry.lookups == 1


async def test_invalidate_makes_the_next_select_look_up(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await registry.register(service(name, "a"), ttl=10)
    await selector.select(name)

    selector.invalidate(name)
    await selector.select(name)

    assert registry.lookups == 2


async def test_watch_events_keep_the_cache_current(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await registry.register(service(name, "a", "b"), ttl=10)
    await selector.select(name)

    await registry.deregister(service(name, "a"))
    await registry.register(service(name, "c"), ttl=10)

    async def current() -> bool:
        picked = {(await selector.select(name)).id for _ in range(6)}
        return picked == {"b", "c"}

    await eventually(current)
    assert registry.lookups == 1


async def test_a_node_deregistered_in_another_process_is_no_longer_picked(
    nats_url: str,
) -> None:
    here, there = NatsRegistry(nats_url, query_timeout=0.25), NatsRegistry(nats_url)
    selector = Selector(here, cache_ttl=60)
    try:
        name = unique_name()
        await there.register(service(name, "a", "b"), ttl=10)
        assert {(await selector.select(name)).id for _ in range(2)} == {"a", "b"}

        await there.deregister(service(name, "a"))

        async def only_b() -> bool:
            return {(await selector.select(name)).id for _ in range(4)} == {"b"}

        await eventually(only_b)
    finally:
        await selector.close()
        await here.close()
        await there.close()


async def test_an_unknown_strategy_is_refused(registry: CountingRegistry) -> None:
    with pytest.raises(ValueError, match="one of round_robin, random, least_outstanding"):
        Selector(registry, strategy="fastest")  # type: ignore[arg-type]


def canary_service(name: str) -> list[ServiceRecord]:
    """Two stable nodes at 1.0, and a canary at 2.0 with its track in its metadata."""
    return [
        ServiceRecord(name, "1.0", (Node("a", "127.0.0.1:5000"), Node("b", "127.0.0.1:5001"))),
        ServiceRecord(name, "2.0", (Node("c", "127.0.0.1:5002", {"track": "canary"}),)),
    ]


async def register_all(registry: CountingRegistry, records: list[ServiceRecord]) -> None:
    for record in records:
        await registry.register(record, ttl=10)


async def test_a_version_filter_picks_only_nodes_of_that_version(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await register_all(registry, canary_service(name))

    stable = {(await selector.select(name, filter=Version("1.0"))).id for _ in range(6)}
    canary = {(await selector.select(name, filter=Version("2.0"))).id for _ in range(6)}

    assert (stable, canary) == ({"a", "b"}, {"c"})


async def test_a_metadata_filter_picks_only_nodes_holding_every_pair(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await register_all(registry, canary_service(name))

    picked = {
        (await selector.select(name, filter=NodeMetadata(track="canary"))).id for _ in range(4)
    }

    assert picked == {"c"}
    with pytest.raises(ServiceNotFound):
        await selector.select(name, filter=NodeMetadata({"track": "canary", "zone": "eu-west"}))


async def test_a_filter_that_leaves_no_node_names_the_service_and_the_filter(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await register_all(registry, canary_service(name))

    with pytest.raises(ServiceNotFound) as caught:
        await selector.select(name, filter=Version("3.0") & NodeMetadata(track="canary"))

    assert str(caught.value) == (
        f'service "{name}" not found in registry memory: '
        'none of its 3 nodes has version "3.0" and metadata track="canary"'
    )
    assert caught.value.service == name


async def test_a_node_that_joins_through_the_watch_is_filtered_by_its_version(
    registry: CountingRegistry, selector: Selector
) -> None:
    name = unique_name()
    await registry.register(service(name, "a"), ttl=10)
    await selector.select(name)

    await registry.register(ServiceRecord(name, "2.0", (Node("z", "127.0.0.1:5009"),)), ttl=10)

    async def joined() -> bool:
        try:
            return (await selector.select(name, filter=Version("2.0"))).id == "z"
        except ServiceNotFound:
            return False

    await eventually(joined)
    assert registry.lookups == 1


async def test_least_outstanding_picks_the_node_with_fewest_calls_in_flight(
    registry: CountingRegistry,
) -> None:
    name = unique_name()
    await registry.register(service(name, "a", "b", "c"), ttl=10)
    selector = Selector(registry, strategy="least_outstanding")
    try:
        a, b, _ = (await registry.get_service(name))[0].nodes
        for node in (a, a, b):
            selector.call_started(node)

        assert {(await selector.select(name)).id for _ in range(3)} == {"c"}
        selector.call_ended(a)
        selector.call_ended(a)
        assert {(await selector.select(name)).id for _ in range(4)} == {"a", "c"}
        assert (selector.outstanding(a), selector.outstanding(b)) == (0, 1)
    finally:
        await selector.close()


def test_a_metadata_filter_needs_a_pair() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        NodeMetadata()
