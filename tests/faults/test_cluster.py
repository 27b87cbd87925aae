"""A three-node NATS cluster with streams replicated three times: killing the
stream's leader during a burst of sign-ups loses no welcome email."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import nats
import pytest
from devstack.nats_cluster import NatsCluster
from devstack.settings import StackSettings
from devstack.stack import LocalStack
from devstack.unprivileged import scratch_dir
from micro.testing import eventually

from .conftest import ENV, running_address
from .harness import Signups, every_user_mailed, record

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster_stack(
    nats_cluster: NatsCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    settings = StackSettings(nats_url=nats_cluster.url)
    env = {**ENV, "MICRO_JETSTREAM_REPLICAS": "3"}
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "cluster-") as var_dir,
        LocalStack(var_dir, settings, env=env, services=("user-service", "email-service")) as stack,
    ):
        yield stack


async def user_created_stream(nats_url: str) -> str:
    nc = await nats.connect(nats_url.split(","), connect_timeout=2)
    try:
        return await nc.jsm().find_stream_name_by_subject("user.created")
    finally:
        await nc.close()


async def test_the_stream_leader_killed_during_a_burst(
    cluster_stack: LocalStack, nats_cluster: NatsCluster
) -> None:
    started = time.monotonic()
    signups = Signups(lambda: running_address(cluster_stack, "user-service"))
    burst = asyncio.create_task(signups.run(150))
    try:
        await signups.until_created(40)
        stream = await user_created_stream(nats_cluster.url)
        leader = nats_cluster.stream_leader(stream)

        nats_cluster.kill(leader)
        await signups.until_created(100)
        await eventually(
            lambda: _has_leader(nats_cluster, stream), 30, waiting_for="a new stream leader"
        )
        await burst
        mail = await every_user_mailed(cluster_stack, signups, within=180)
    finally:
        await asyncio.to_thread(nats_cluster.heal)
    figure = record("3-node NATS cluster, stream leader SIGKILLed", signups, mail, started)
    assert (figure.created, figure.mailed_once) == (150, 150)
    assert figure.doubled == 0


def _has_leader(cluster: NatsCluster, stream: str) -> bool:
    try:
        cluster.stream_leader(stream)
    except LookupError:
        return False
    return True
