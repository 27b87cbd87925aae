"""The nats-server that `make run` and the tests start: JetStream on file
storage that syncs every write to disk before it acknowledges it."""

from __future__ import annotations

from pathlib import Path

import nats
from devstack.nats import NatsServer


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
