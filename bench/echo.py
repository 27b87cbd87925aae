"""The servicer both benchmark servers run: the same proto, the same payload."""

from __future__ import annotations

import grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc

SERVICE = "bench.user"
TOPIC_TYPED = "bench.typed"
TOPIC_RAW = "bench.raw"
MQTT_TOPIC_RAW = "bench/raw"
"""The raw aiomqtt variant's MQTT topic (the typed one is TOPIC_TYPED as MQTT: bench/typed)."""
CONTROL = "bench.control"
SENT_HEADER = "Bench-Sent-Ns"
RABBITMQ_PREFETCH = 32
"""Unacknowledged messages a RabbitMQ consumer holds: the plugin's default, on both sides."""


class EchoUsers(user_pb2_grpc.UserServiceServicer):
    """Get answers with a fixed user carrying the requested id."""

    async def Get(
        self, request: user_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetResponse:
        return user_pb2.GetResponse(
            user=user_pb2.User(
                id=request.id, name="Ada Lovelace", company="Analytical", email="ada@example.com"
            )
        )
