"""The records a registry keeps: services, their nodes, and change events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EventType = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Node:
    """One running instance of a service."""

    id: str
    address: str
    """host:port a client dials."""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceRecord:
    """A service at one version, with the nodes that serve it."""

    name: str
    version: str
    nodes: tuple[Node, ...] = ()
    endpoints: tuple[str, ...] = ()
    """Fully qualified method names, e.g. "shippy.user.v1.UserService/Create"."""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "nodes": [
                {"id": n.id, "address": n.address, "metadata": dict(n.metadata)} for n in self.nodes
            ],
            "endpoints": list(self.endpoints),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceRecord:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            nodes=tuple(
                Node(str(n["id"]), str(n["address"]), dict(n.get("metadata", {})))
                for n in data.get("nodes", [])
            ),
            endpoints=tuple(str(e) for e in data.get("endpoints", [])),
            metadata=dict(data.get("metadata", {})),
        )


@dataclass(frozen=True)
class Event:
    type: EventType
    service: ServiceRecord
