"""A typed publisher and a registered subscriber on one memory broker.

user-service and email-service share nothing but a topic and a message type.
"""

import asyncio

from micro import EventInfo, Options, Service
from micro.broker.memory import MemoryBroker
from shippy.user.v1 import events_pb2


async def main() -> None:
    options = Options(registry="memory", broker="memory")
    broker = MemoryBroker()  # one broker for both services, passed to each
    await broker.connect()
    received: asyncio.Queue[tuple[events_pb2.UserCreated, EventInfo]] = asyncio.Queue()

    emails = Service("shippy.email", options=options, broker=broker)

    @emails.subscriber("user.created", queue="shippy.email")
    async def on_user_created(event: events_pb2.UserCreated, info: EventInfo) -> None:
        await received.put((event, info))

    users = Service("shippy.user", options=options, broker=broker)
    created = users.publisher("user.created", events_pb2.UserCreated)

    await emails.start()
    await users.start()
    try:
        event_id = await created.publish(
            events_pb2.UserCreated(user_id="42", name="Ada", email="ada@example.com")
        )
        event, info = await asyncio.wait_for(received.get(), timeout=5)
        print(f"welcome {event.email}; event {info.id} as {info.content_type}")
        assert info.id == event_id

        try:
            await created.publish("not an event")  # type: ignore[arg-type]
        except TypeError as error:
            print("refused:", error)
    finally:
        await users.stop()
        await emails.stop()
        await broker.disconnect()  # the broker is ours: the services leave it connected


asyncio.run(main())
