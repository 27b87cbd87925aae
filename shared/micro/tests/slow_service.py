"""A vessel service whose FindAvailable takes a second, run as a process by
test_service.py to show that SIGTERM lets a call in flight finish.

    python slow_service.py   # prints "ready HOST:PORT", then "handling" for each call
"""

from __future__ import annotations

import asyncio

import grpc.aio
from micro import Options, Service
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc


class SlowVessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(
        self,
        request: vessel_pb2.FindAvailableRequest,
        context: grpc.aio.ServicerContext[
            vessel_pb2.FindAvailableRequest, vessel_pb2.FindAvailableResponse
        ],
    ) -> vessel_pb2.FindAvailableResponse:
        print("handling", flush=True)
        await asyncio.sleep(1.0)  # the slow work itself
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(id="v1", name="Slowboat"))


async def main() -> None:
    service = Service("shippy.slow", "0.1.0", Options(registry="memory", broker="memory"))
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, SlowVessels())

    @service.after_start
    async def announce() -> None:
        print(f"ready {service.address}", flush=True)

    await service.run()


if __name__ == "__main__":
    asyncio.run(main())
