"""A service and a client in one process, finding each other by name.

The service and the client share one memory registry, passed to both on
purpose; with `MICRO_REGISTRY=nats` they would find each other across machines.
"""

import asyncio

from micro import Client, Options, Service
from micro.errors import FailedPrecondition
from micro.registry.memory import MemoryRegistry
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(self, request, context):
        if request.specification.capacity > 500:
            raise FailedPrecondition("no vessel carries that many containers")
        return vessel_pb2.FindAvailableResponse(
            vessel=vessel_pb2.Vessel(name="Boaty McBoatface", capacity=500)
        )


async def main() -> None:
    options = Options(registry="memory", broker="memory")
    registry = MemoryRegistry()
    service = Service("shippy.vessel", version="1.0.0", options=options, registry=registry)
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    await service.start()
    try:
        async with Client.connect(options, registry=registry) as client:
            vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, "shippy.vessel")
            spec = vessel_pb2.Specification(capacity=3, max_weight=1000)
            reply = await vessels.FindAvailable(vessel_pb2.FindAvailableRequest(specification=spec))
            print("found", reply.vessel.name)

            too_big = vessel_pb2.Specification(capacity=9000)
            try:
                await vessels.FindAvailable(vessel_pb2.FindAvailableRequest(specification=too_big))
            except FailedPrecondition as error:
                print("refused:", error)  # the same error class the handler raised
    finally:
        await service.stop()


asyncio.run(main())
