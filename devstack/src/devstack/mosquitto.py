"""A real Mosquitto (an MQTT 5 server) on a free loopback port, for the MQTT
broker plugin's tests and `make run` with `MICRO_BROKER=mqtt`.

No PyPI package ships an MQTT 5 server that can carry micro's broker
contract: `amqtt` speaks MQTT 3.1.1 only (no user properties, no shared
subscriptions), and `mqttools`'s broker (0.50, 2021) grants QoS 0 only
and announces neither shared subscriptions nor wildcards (CONNACK says so). So this runs the
`mosquitto` binary where one is installed (Debian's package puts it at
/usr/sbin/mosquitto; MQTT 5 and shared subscriptions since 1.6) and says
what to install where none is.

    with MosquittoServer(Path("var/mosquitto")) as mqtt:
        mqtt.url        # mqtt://127.0.0.1:<port>
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port, port_in_use
from devstack.waiting import wait_until

CONFIG_NAME = "mosquitto.conf"
SEARCHED = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
MISSING = (
    "mosquitto not found (looked on PATH and in /usr/sbin, /usr/local/sbin): install "
    "Mosquitto >= 1.6, an MQTT 5 server (Debian/Ubuntu: apt-get install mosquitto); "
    "no PyPI package ships an MQTT 5 server with shared subscriptions"
)


def mosquitto_binary() -> str | None:
    """The path of the mosquitto binary, or None when none is installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((path for path in SEARCHED if Path(path).exists()), None)


@dataclass
class MosquittoServer:
    """`with MosquittoServer(data_dir) as mqtt: mqtt.url`. A port left at 0 is
    picked when it starts and kept after, so a restart comes back there."""

    data_dir: Path
    port: int = 0
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / CONFIG_NAME

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def config(self) -> str:
        """Anonymous clients on loopback only; nothing kept on disk."""
        return f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"

    def start(self, timeout: float = 10.0) -> MosquittoServer:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError(MISSING)
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config())
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it after the services
            )
        finally:
            if not isinstance(log, int):
                log.close()
        try:
            wait_until(self._serving, timeout, f"mosquitto on port {self.port} to serve")
        except BaseException:
            self.stop()
            raise
        return self

    def _serving(self) -> bool:
        if not self.running:
            assert self.process is not None
            where = f"; see {self.log_file}" if self.log_file else ""
            raise RuntimeError(
                f"mosquitto exited with code {self.process.returncode} while starting "
                f"on port {self.port}{where}"
            )
        return port_in_use(self.port)

    def kill(self) -> None:
        """SIGKILL: clients see the connection drop."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
