"""Testing services built on micro, as `nameko.testing` does for nameko.

    async with MemoryStack() as stack:
        users = stack.service("shippy.user")
        users.handle(add_UserServiceServicer_to_server, UserHandler(...))
        mail = stack.service("shippy.email")
        mail.subscriber("user.created", queue="shippy.email")(on_user_created)
        await stack.start(users, mail)

        await stack.client.stub(UserServiceStub, "shippy.user").Create(request)
        await stack.settle()               # every event published so far is handled

A `MemoryStack` is a fresh memory registry and memory broker that only its
own services share: two stacks in one process never see each other. The
contract tests every broker and registry passes are here too, for plugin
packages to subclass: `BrokerContract`, `RegistryContract` and `TransportContract`.
"""

from __future__ import annotations

from micro.testing.broker_contract import AtLeastOnceContract, BrokerContract
from micro.testing.memory import MemoryStack
from micro.testing.registry_contract import RegistryContract, unique_name
from micro.testing.transport_contract import TransportContract
from micro.testing.waiting import eventually, first_success

__all__ = [
    "AtLeastOnceContract",
    "BrokerContract",
    "MemoryStack",
    "RegistryContract",
    "TransportContract",
    "eventually",
    "first_success",
    "unique_name",
]
