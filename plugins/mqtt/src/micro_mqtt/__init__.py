"""micro's MQTT 5 broker plugin: `MICRO_BROKER=mqtt`, the server at `MQTT_URL`.

    [project.entry-points."micro.brokers"]
    mqtt = "micro_mqtt:from_options"

Or as an instance: `Service(..., broker=MqttBroker("mqtt://127.0.0.1:1883"))`.
"""

from __future__ import annotations

import os

from micro.config import Options

from micro_mqtt.broker import DEFAULT_MQTT_URL, MqttBroker, MqttSubscription

__all__ = ["DEFAULT_MQTT_URL", "MqttBroker", "MqttSubscription", "from_options"]


def from_options(options: Options) -> MqttBroker:
    """The "mqtt" plugin: the MQTT server at `MQTT_URL` (read only when this
    plugin is chosen), mqtt://127.0.0.1:1883 when unset."""
    return MqttBroker(os.environ.get("MQTT_URL") or DEFAULT_MQTT_URL)
