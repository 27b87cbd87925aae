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
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack import processes
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
        self.process = processes.spawn([binary, "-c", str(self.config_file)], self.log_file)
        try:
            wait_until(self._serving, timeout, f"mosquitto on port {self.port} to serve")
        except BaseException:
            self.stop()
            raise
        return self

    def _serving(self) -> bool:
        processes.check_running(self.process, f"mosquitto on port {self.port}", self.log_file)
        return port_in_use(self.port)

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush or say goodbye."""
        processes.kill(self.process)

    def stop(self) -> None:
        processes.stop(self.process)

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
