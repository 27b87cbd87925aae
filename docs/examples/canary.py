"""Two versions of a service side by side: callers choose by filter.

The stable vessel-service and a canary register under the same name; the
canary says so in its metadata (`MICRO_METADATA=track=canary` when it reads
its options from the environment). A plain stub shares its calls between
both nodes; a filtered stub calls only the nodes its filter accepts, and a
filter that leaves none is "service not found", naming the filter.
"""

import asyncio

from micro import Client, Options, Service
from micro.errors import ServiceNotFound
from micro.registry.memory import MemoryRegistry
from micro.selector import NodeMetadata, Version
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    def __init__(self, name: str) -> None:
        self.name = name

    async def FindAvailable(self, request, context):
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(name=self.name))


def vessel_service(registry, version, name, **metadata):
    options = Options(registry="memory", broker="memory", metadata=metadata)
    service = Service("shippy.vessel", version=version, options=options, registry=registry)
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels(name))
    return service


async def main() -> None:
    registry = MemoryRegistry()
    stable = vessel_service(registry, "1.0.0", "Boaty McBoatface")
    canary = vessel_service(registry, "1.1.0", "The Canary", track="canary")
    await stable.start()
    await canary.start()
    request = vessel_pb2.FindAvailableRequest(specification=vessel_pb2.Specification(capacity=1))
    try:
        async with Client.connect(Options(registry="memory"), registry=registry) as client:
            anyone = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")
            names = {(await anyone.FindAvailable(request)).vessel.name for _ in range(4)}
            print("plain stub:", ", ".join(sorted(names)))

            canaries = client.stub(
                vessel_pb2_grpc.VesselServiceStub,
                "shippy.vessel",
                filter=NodeMetadata(track="canary"),
            )
            print("canary stub:", (await canaries.FindAvailable(request)).vessel.name)

            v2 = client.stub(
                vessel_pb2_grpc.VesselServiceStub, "shippy.vessel", filter=Version("2.0.0")
            )
            try:
                await v2.FindAvailable(request)
            except ServiceNotFound as error:
                print("version 2 stub:", error)
    finally:
        await canary.stop()
        await stable.stop()


asyncio.run(main())
