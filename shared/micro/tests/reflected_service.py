"""A vessel service that says which of reflection's modules it has imported,
run as a process by test_server.py: one nobody reflects must not load them.

    python reflected_service.py   # prints "ready HOST:PORT", then for each line
                                  # it reads, "loaded" and the modules loaded
"""

from __future__ import annotations

import asyncio
import sys

from micro import Options, Service
from shippy.vessel.v1 import vessel_pb2_grpc

REFLECTION_MODULES = ("grpc_reflection.v1alpha.reflection", "google.protobuf.descriptor_pb2")
"""What reflection loads (`import grpc` imports the empty `grpc_reflection`
package itself wherever it is installed)."""


def loaded() -> str:
    return " ".join(["loaded", *(name for name in REFLECTION_MODULES if name in sys.modules)])


async def main() -> None:
    service = Service("shippy.reflected", "0.1.0", Options(registry="memory", broker="memory"))
    service.handle(
        vessel_pb2_grpc.add_VesselServiceServicer_to_server,
        vessel_pb2_grpc.VesselServiceServicer(),
    )
    await service.start()
    print(f"ready {service.address}", flush=True)
    while await asyncio.to_thread(sys.stdin.readline):
        print(loaded(), flush=True)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
