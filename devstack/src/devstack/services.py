"""Shippy's services as local processes: which there are, what each needs, and
one running instance with its output streamed and kept."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shippy_kit.health_probe import check, check_nats

from devstack.console import Console
from devstack.leftovers import forget
from devstack.waiting import wait_until


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    """Its console script in the virtualenv, e.g. `user-service`."""
    database: str
    """The database it owns: each service owns its data."""
    service: str = ""
    """Its name in the registry, e.g. `shippy.user` (its NATS login may take `micro.rpc.<this>.>`)."""
    publishes: tuple[str, ...] = ()
    """The event subjects it publishes on: under `make run`, no other login may."""
    needs_jwt_secret: bool = False
    needs_smtp: bool = False


CATALOG: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("vessel-service", "shippy_vessel", "shippy.vessel"),
        ServiceSpec(
            "user-service",
            "shippy_user",
            "shippy.user",
            publishes=("user.created",),
            needs_jwt_secret=True,
        ),
        ServiceSpec("email-service", "shippy_email", "shippy.email", needs_smtp=True),
        ServiceSpec("consignment-service", "shippy_consignment", "shippy.consignment"),
    )
}
SERVICE_NAMES: tuple[str, ...] = tuple(CATALOG)
HEALTH_CHECK_TIMEOUT = 1.0
"""Seconds one look at a starting service's health may take."""


class NotServing(RuntimeError):
    """The service exited, or did not report SERVING in time."""


@dataclass
class ServiceProcess:
    """One instance of a service: started with `start()`, its output kept in
    `lines` and shown on `console` as `<label> | <line>`."""

    spec: ServiceSpec
    index: int
    executable: Path
    env: Mapping[str, str]
    address: str
    """host:port its gRPC server binds (MICRO_SERVER_ADDRESS); on the NATS
    transport, the instance's own NATS address (its health subject's prefix)."""
    nats_url: str | None = None
    """On the NATS transport: the NATS its health is asked on."""
    console: Console | None = None
    on_exit: Callable[[ServiceProcess], None] | None = None
    """Called from the output thread when the process ends on its own."""
    lines: list[str] = field(default_factory=list, init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    stopping: bool = field(default=False, init=False)
    """Asked to end: its exit is expected."""
    record: Path | None = field(default=None, init=False)
    """Its entry in the var directory's run/ (see devstack.leftovers), while it runs."""
    _signalled: bool = field(default=False, init=False, repr=False)
    _reader: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        return self.spec.name if self.index == 0 else f"{self.spec.name}#{self.index + 1}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.executable)],
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop services in order
        )
        self._reader = threading.Thread(
            target=self._read_output, name=f"output of {self.label}", daemon=True
        )
        self._reader.start()

    def wait_until_serving(
        self, timeout: float, still_running: Callable[[], bool] | None = None
    ) -> None:
        """Return once it reports SERVING through grpc.health.v1 (over gRPC or
        NATS, as its transport is); raise
        NotServing if `still_running()` (default: this process runs) turns
        false or `timeout` passes first."""
        running = still_running or (lambda: self.running)

        def serving() -> bool:
            if not running():
                raise NotServing(f"{self.label} exited")
            if self.nats_url is not None:
                return check_nats(self.nats_url, self.address, HEALTH_CHECK_TIMEOUT) is None
            return check(self.address, timeout=HEALTH_CHECK_TIMEOUT) is None

        try:
            wait_until(serving, timeout, waiting_for=f"{self.label} to report SERVING")
        except TimeoutError:
            raise NotServing(f"{self.address} did not report SERVING within {timeout:g}s") from None

    def request_stop(self) -> None:
        """SIGTERM, without waiting: the service deregisters and drains."""
        self.stopping = True
        if self.process is not None and self.process.poll() is None and not self._signalled:
            self._signalled = True
            self.process.terminate()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait for the exit, SIGKILL after `timeout` seconds."""
        self.request_stop()
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join_reader()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to deregister or drain."""
        self.stopping = True
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        self._join_reader()

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines[-count:])

    def _join_reader(self) -> None:
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5.0)

    def _read_output(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        with self.process.stdout as output:
            for raw in output:
                text = raw.decode(errors="replace").rstrip("\r\n")
                self.lines.append(text)
                if self.console is not None:
                    self.console.line(self.label, text)
        code = self.process.wait()
        if self.record is not None:
            forget(self.record)
        if self.console is not None:
            self.console.line(self.label, f"exited with code {_describe(code)}")
        if not self.stopping and self.on_exit is not None:
            self.on_exit(self)


def _describe(code: int) -> str:
    if code < 0:
        return f"{code} ({signal.Signals(-code).name})"
    return str(code)


def executable_path(bin_dir: Path, name: str) -> Path:
    path = bin_dir / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"{name}: no such program at {path}. Install the workspace with `make install` "
            f"(it puts every service's console script in .venv/bin)"
        )
    return path
