"""A service on the NATS transport, called by name, and its NATS services API.

With `MICRO_TRANSPORT=nats` a service listens on no port: each of its
methods is a queue-group subscription on NATS, so its instances share the
calls. The client needs no change: the service's registry node says which
transport it is on. Every service, on either transport, also answers the
NATS services API (ADR-32): `$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`.
Run it with the stack of `make run` up: it uses the NATS at `NATS_URL`.
"""

import asyncio
import json

import nats
from micro import Client, Options, Service
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

NAME = "shippy.example.vessel"  # not shippy.vessel: the stack's own is left alone


class Vessels(vessel_pb2_grpc.VesselServiceServicer):
    async def FindAvailable(self, request, context):
        return vessel_pb2.FindAvailableResponse(vessel=vessel_pb2.Vessel(name="Boaty McBoatface"))


async def main() -> None:
    # NATS_URL, and the login of NATS_NKEY: make run's NATS lets only logins serve.
    options = Options.from_env(registry="nats", broker="nats", transport="nats")
    url = options.nats_url
    service = Service(NAME, version="1.0.0", options=options)
    service.handle(vessel_pb2_grpc.add_VesselServiceServicer_to_server, Vessels())
    await service.start()
    try:
        async with Client.connect(Options(registry="nats", nats_url=url)) as client:  # a CLI's
            vessels = client.stub(vessel_pb2_grpc.VesselServiceStub, NAME)
            reply = await vessels.FindAvailable(vessel_pb2.FindAvailableRequest())
            print("over NATS:", reply.vessel.name)

        nc = await nats.connect(url)
        try:
            ping = await nc.request("$SRV.PING.shippy_example_vessel", b"", timeout=5)
        finally:
            await nc.close()
        answer = json.loads(ping.data)
        print("$SRV.PING:", answer["name"], answer["version"], answer["metadata"]["protocol"])
    finally:
        await service.stop()


asyncio.run(main())
