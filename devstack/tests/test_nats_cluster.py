"""A three-node JetStream cluster on loopback: a stream with three replicas
keeps taking writes when its leader is SIGKILLed, and a node started again
catches up with what it missed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from devstack.nats_cluster import NatsCluster
from micro.testing import eventually, first_success
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig

pytestmark = pytest.mark.timeout(60)

ELECTION = 15.0
"""Seconds a new stream leader may take (measured here: 4 to 7.5 after a SIGKILL)."""


@pytest.fixture
async def cluster(nats_cluster: NatsCluster) -> AsyncIterator[NatsCluster]:
    """The session's cluster, all three nodes up and caught up again after the test."""
    yield nats_cluster
    await asyncio.to_thread(nats_cluster.heal)


@pytest.fixture
async def js(cluster: NatsCluster) -> AsyncIterator[JetStreamContext]:
    """A JetStream client that knows every node, and moves to another when its own dies."""
    nc = await nats.connect(
        servers=cluster.urls, connect_timeout=2, reconnect_time_wait=0.1, max_reconnect_attempts=-1
    )
    yield nc.jetstream(timeout=2)
    await nc.close()


@pytest.fixture
async def stream(js: JetStreamContext) -> str:
    """A fresh stream on file storage with a replica on each node."""
    name = f"SIGNUPS_{uuid.uuid4().hex[:8]}"
    config = StreamConfig(
        name=name, subjects=[f"{name}.>"], storage=StorageType.FILE, num_replicas=3
    )
    await js.add_stream(config)
    return name


async def publish_until_acked(js: JetStreamContext, stream: str, n: int) -> PubAck:
    """Publish event n, again and again until the stream acknowledges it
    (the same Nats-Msg-Id each time, so the stream keeps it once)."""
    return await first_success(
        lambda: js.publish(
            f"{stream}.created", b"%d" % n, timeout=0.5, headers={"Nats-Msg-Id": f"event-{n}"}
        ),
        nats.errors.Error,  # no leader yet, no responders, reconnecting
        within=ELECTION,
    )


def holds(cluster: NatsCluster, i: int, stream: str, messages: int) -> bool:
    """Whether node i says its replica of `stream` holds `messages` messages."""
    answer = cluster.nodes[i].monitor("/jsz?streams=true")
    details = [d for a in answer.get("account_details", []) for d in a["stream_detail"]]
    return any(d["name"] == stream and d["state"]["messages"] == messages for d in details)


def test_every_node_syncs_every_write_to_its_own_store(nats_cluster: NatsCluster) -> None:
    answers = [node.monitor("/varz") for node in nats_cluster.nodes]

    assert [a["server_name"] for a in answers] == ["shippy-0", "shippy-1", "shippy-2"]
    assert all(a["jetstream"]["config"]["sync_always"] for a in answers)
    assert [Path(a["jetstream"]["config"]["store_dir"]) for a in answers] == [
        node.store_dir / "jetstream" for node in nats_cluster.nodes
    ]
    assert all(a["cluster"]["name"] == "shippy" for a in answers)
    assert nats_cluster.meta_leader() is not None


async def test_stream_keeps_taking_writes_when_its_leader_is_killed(
    cluster: NatsCluster, js: JetStreamContext, stream: str
) -> None:
    for n in range(10):
        await publish_until_acked(js, stream, n)
    old_leader = cluster.stream_leader(stream)

    cluster.kill(old_leader)
    acks = [await publish_until_acked(js, stream, n) for n in range(10, 20)]
    new_leader = cluster.stream_leader(stream)
    info = await js.stream_info(stream)

    assert {ack.stream for ack in acks} == {stream}
    assert new_leader != old_leader
    assert info.cluster is not None
    assert info.cluster.leader == cluster.node_name(new_leader)
    assert info.state.messages == 20  # every event once, however often it was sent

    await asyncio.to_thread(cluster.restart, old_leader)
    await eventually(
        lambda: holds(cluster, old_leader, stream, 20),
        within=10,
        waiting_for=f"node {old_leader} to rejoin",
    )


async def test_a_node_started_again_catches_up_with_what_it_missed(
    cluster: NatsCluster, js: JetStreamContext, stream: str
) -> None:
    follower = (cluster.stream_leader(stream) + 1) % len(cluster.nodes)
    cluster.kill(follower)
    for n in range(20):
        await publish_until_acked(js, stream, n)

    await asyncio.to_thread(cluster.restart, follower)
    await eventually(
        lambda: holds(cluster, follower, stream, 20),
        within=10,
        waiting_for=f"node {follower} to catch up",
    )
    await eventually(lambda: cluster.nodes[follower].healthy("/healthz"), within=10)
