"""micro's topics (NATS subjects) as MQTT topic names and filters.

A topic's `.`-separated tokens become MQTT levels, so that the wildcards mean
the same on both sides: `user.*` is `user/+` and `user.>` is `user/#`. (MQTT's
`#` also matches the parent level itself, `user`; NATS's `>` does not.) A
queue group is an MQTT 5 shared subscription, `$share/<group>/<filter>`: the
server hands each message to one subscriber of the group.
"""

from __future__ import annotations

_RESERVED = ("/", "+", "#")


def topic_name(topic: str) -> str:
    """The MQTT topic a message on `topic` is published to."""
    _check(topic)
    if "*" in topic.split(".") or ">" in topic.split("."):
        raise ValueError(f"topic {topic!r}: wildcards are for subscribing, not publishing")
    return topic.replace(".", "/")


def topic_filter(topic: str, queue: str | None = None) -> str:
    """The MQTT filter a subscription to `topic` (in `queue`) subscribes with."""
    _check(topic)
    tokens = topic.split(".")
    if ">" in tokens[:-1]:
        raise ValueError(f"topic {topic!r}: '>' may only be the last token")
    levels = ["+" if t == "*" else "#" if t == ">" else t for t in tokens]
    mqtt_filter = "/".join(levels)
    if queue is None:
        return mqtt_filter
    if any(c in queue for c in _RESERVED):
        raise ValueError(f"queue {queue!r}: an MQTT shared subscription group has no / + #")
    return f"$share/{queue}/{mqtt_filter}"


def from_topic_name(name: str) -> str:
    """The micro topic of a message that arrived on MQTT topic `name`."""
    return name.replace("/", ".")


def _check(topic: str) -> None:
    if not topic or any(c in topic for c in _RESERVED):
        raise ValueError(f"topic {topic!r}: must be non-empty, tokens separated by '.', no / + #")
