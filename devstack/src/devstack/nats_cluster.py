"""Three nats-servers routed into one JetStream cluster on loopback, for
fault tests: kill a node, find a stream's leader, start the node again.

    with NatsCluster(tmp_path) as cluster:
        nc = await nats.connect(servers=cluster.urls)   # every node's client URL
        cluster.kill(cluster.stream_leader("EVENTS"))   # SIGKILL
        ...
        cluster.restart(i)                              # same ports, same store
        cluster.heal()                                  # all up and caught up

Each node is a `NatsServer` (JetStream on file storage, `sync_interval:
always`) with its own store directory and log under `base_dir`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.js.api import StorageType

from devstack.nats import NatsServer, Routes
from devstack.ports import free_port
from devstack.waiting import wait_until

PROBE = "DEVSTACK_READY"
"""The stream `wait_ready` creates and deletes to see that placement works."""


@dataclass
class NatsCluster:
    """`with NatsCluster(base_dir) as cluster:` three routed nodes, ready.
    Node i is `nodes[i]` (a NatsServer), named `node_name(i)` in the
    servers' answers; its store, config and log are under `base_dir`."""

    base_dir: Path
    size: int = 3
    name: str = "shippy"
    nodes: list[NatsServer] = field(init=False)

    def __post_init__(self) -> None:
        ports = iter(_free_ports(3 * self.size))
        client, monitor, route = ([next(ports) for _ in range(self.size)] for _ in range(3))
        self.nodes = [
            NatsServer(
                self.base_dir / f"node-{i}",
                port=client[i],
                monitor_port=monitor[i],
                log_file=self.base_dir / f"node-{i}.log",
                name=self.node_name(i),
                routes=Routes(self.name, route[i], tuple(p for p in route if p != route[i])),
            )
            for i in range(self.size)
        ]

    def node_name(self, i: int) -> str:
        return f"{self.name}-{i}"

    @property
    def urls(self) -> list[str]:
        """Every node's client URL: `nats.connect(servers=cluster.urls)`."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """The same, comma-joined, as NATS_URL and the nats CLI's --server take them."""
        return ",".join(self.urls)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self, i: int) -> None:
        """SIGKILL node i."""
        self.nodes[i].kill()

    def restart(self, i: int) -> None:
        """Start node i again (stopping it first if it runs), on the same
        ports and store. It serves clients at once; `heal()` waits until it
        has caught up with the others."""
        self.nodes[i].stop()
        self.nodes[i].start()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once every node serves with JetStream enabled, the cluster
        has elected a JetStream meta leader, and that leader places a stream
        on every node."""
        wait_until(
            self._ready, timeout, f"NATS cluster {self.name} to be ready (logs in {self.base_dir})"
        )

    def heal(self, timeout: float = 30.0) -> None:
        """Start every node that is down, and return once every node is
        caught up: its full `/healthz` says its JetStream meta and stream
        replicas are current. A test that kills a node calls this after."""
        for node in self.nodes:
            if not node.running:
                node.start()
        wait_until(
            lambda: all(node.healthy("/healthz") for node in self.nodes),
            timeout,
            f"every node of NATS cluster {self.name} to catch up (logs in {self.base_dir})",
        )

    def meta_leader(self) -> int | None:
        """The node leading JetStream's meta group, as a running node that
        leads it says (None while there is none)."""
        for i in self._running():
            meta = self._jsz(i, "").get("meta_cluster", {})
            if meta.get("leader") == self.node_name(i):
                return i
        return None

    def stream_leader(self, stream: str) -> int:
        """The index of the node leading `stream`, as that node itself says;
        LookupError while it has no leader (during an election)."""
        for i in self._running():
            for account in self._jsz(i, "?streams=true").get("account_details", []):
                for detail in account.get("stream_detail", []):
                    leader = detail.get("cluster", {}).get("leader")
                    if detail.get("name") == stream and leader == self.node_name(i):
                        return i
        raise LookupError(f"stream {stream} has no leader among the running nodes")

    def _ready(self) -> bool:
        serving = all(node.healthy("/healthz?js-enabled-only=true") for node in self.nodes)
        return serving and self.meta_leader() is not None and self._places_replicated_streams()

    def _places_replicated_streams(self) -> bool:
        """Whether a stream with a replica on every node can be created (and
        deleted again): a new meta leader answers "no suitable peers for
        placement", or nothing, until it has heard from every peer, which
        the monitoring endpoint does not show."""
        with ThreadPoolExecutor(1) as worker:  # an event loop of its own, whoever calls
            return worker.submit(asyncio.run, self._probe()).result()

    async def _probe(self) -> bool:
        async def quiet(error: Exception) -> None:
            pass  # the failure is the answer

        try:
            nc = await nats.connect(
                servers=self.urls, connect_timeout=1, allow_reconnect=False, error_cb=quiet
            )
        except (OSError, nats.errors.Error):
            return False
        try:
            js = nc.jetstream(timeout=1)
            await js.add_stream(name=PROBE, storage=StorageType.MEMORY, num_replicas=self.size)
            await js.delete_stream(PROBE)
            return True
        except nats.errors.Error:
            return False
        finally:
            await nc.close()

    def _running(self) -> Iterator[int]:
        return (i for i, node in enumerate(self.nodes) if node.running)

    def _jsz(self, i: int, query: str) -> dict[str, Any]:
        try:
            answer = self.nodes[i].monitor("/jsz" + query)
        except (OSError, ValueError):  # a node just killed or not up yet
            return {}
        return answer if isinstance(answer, dict) else {}

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports
