"""micro's RabbitMQ broker plugin: `MICRO_BROKER=rabbitmq`, the server at `RABBITMQ_URL`.

    [project.entry-points."micro.brokers"]
    rabbitmq = "micro_rabbitmq:from_options"

Or as an instance: `Service(..., broker=RabbitMqBroker("amqp://guest:guest@127.0.0.1:5672/"))`.
"""

from __future__ import annotations

import os

from micro.config import Options

from micro_rabbitmq.broker import (
    DEFAULT_RABBITMQ_URL,
    RabbitMqBroker,
    RabbitMqSubscription,
    routing_key,
)

__all__ = [
    "DEFAULT_RABBITMQ_URL",
    "RabbitMqBroker",
    "RabbitMqSubscription",
    "from_options",
    "routing_key",
]


def from_options(options: Options) -> RabbitMqBroker:
    """The "rabbitmq" plugin: the server at `RABBITMQ_URL` (read only when this
    plugin is chosen), amqp://guest:guest@127.0.0.1:5672/ when unset. A queue
    group's message is dead-lettered after `MICRO_JETSTREAM_MAX_DELIVER`
    attempts, the same bound the JetStream broker keeps."""
    url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    return RabbitMqBroker(url, max_deliver=options.jetstream.max_deliver)
