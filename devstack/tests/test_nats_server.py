"""The nats-server that `make run` and the tests start: JetStream on file
storage that syncs every write to disk before it acknowledges it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import nats
from devstack.nats import NatsServer, nats_server_binary
from devstack.ports import free_port
from devstack.waiting import wait_until

COMPOSE_CONFIG = Path(__file__).parents[2] / "docker" / "nats-server.conf"


def test_jetstream_stores_files_and_syncs_every_write(nats_server: NatsServer) -> None:
    jetstream = nats_server.monitor("/varz")["jetstream"]["config"]

    assert jetstream["sync_always"] is True
    assert Path(jetstream["store_dir"]) == nats_server.store_dir / "jetstream"
    assert jetstream["max_storage"] > 0
    assert "sync_interval: always" in nats_server.config_file.read_text()


async def test_nats_url_takes_jetstream_clients(nats_url: str) -> None:
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        account = await nc.jetstream().account_info()
    finally:
        await nc.close()

    assert account.limits.max_storage != 0


async def test_an_acknowledged_message_survives_sigkill(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats").start()
    try:
        nc = await nats.connect(server.url, connect_timeout=2, max_reconnect_attempts=0)
        js = nc.jetstream()
        await js.add_stream(name="SIGNUPS", subjects=["signup.>"])
        ack = await js.publish("signup.ada", b"ada@example.com", timeout=2)
        await nc.close()
        server.kill()  # right after the ack: no time for a background flush
        port = server.port

        server.start()
        nc = await nats.connect(server.url, connect_timeout=2, max_reconnect_attempts=0)
        message = await nc.jetstream().get_msg("SIGNUPS", ack.seq)
        await nc.close()
    finally:
        server.stop()

    assert server.port == port
    assert message.data == b"ada@example.com"


def test_docker_composes_nats_syncs_every_write_too(tmp_path: Path) -> None:
    """docker/nats-server.conf, run by the wheel's nats-server on loopback
    ports, with its store moved from the container's /data to a temp dir."""
    text = COMPOSE_CONFIG.read_text()
    assert '"/data"' in text
    config = tmp_path / "nats-server.conf"
    config.write_text(text.replace('"/data"', json.dumps(str(tmp_path / "data"))))
    port, monitor_port = free_port(), free_port()
    command = [nats_server_binary(), "-c", str(config), "-a", "127.0.0.1"]
    command += ["-p", str(port), "-m", str(monitor_port)]

    def varz() -> Any:
        url = f"http://127.0.0.1:{monitor_port}/varz"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def answers() -> bool:
        try:
            return bool(varz())
        except OSError:
            return False

    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            wait_until(answers, 15, "the compose config's nats-server to answer")
            jetstream = varz()["jetstream"]["config"]
        finally:
            server.terminate()

    assert jetstream["sync_always"] is True
    assert jetstream["store_dir"] == str(tmp_path / "data" / "jetstream")
