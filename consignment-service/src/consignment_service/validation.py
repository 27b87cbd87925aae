"""Checks on requests: each failure names the field, as `InvalidArgument` does
("containers[2].origin: is required")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from micro.errors import InvalidArgument
from shippy.consignment.v1 import consignment_pb2

from consignment_service.repository import Container

MAX_DESCRIPTION_LENGTH = 1000
MAX_WEIGHT = 1_000_000_000
"""Kilograms: a million tonnes, more than any vessel carries."""
MAX_CONTAINERS = 2_000
"""With ids, customers and origins of MAX_REFERENCE_LENGTH each, one consignment
is about 1.6 MB: it fits a reply (gRPC's limit is 4 MiB) on a page of its own."""
MAX_REFERENCE_LENGTH = 255
"""For a container's customer_id and origin."""


@dataclass(frozen=True)
class NewConsignment:
    """A request that passed the checks, with an id for each container."""

    description: str
    weight: int
    containers: tuple[Container, ...]


def new_consignment(request: consignment_pb2.CreateConsignmentRequest) -> NewConsignment:
    description = request.description.strip()
    if not 1 <= len(description) <= MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument("description", f"must be 1 to {MAX_DESCRIPTION_LENGTH} characters")
    if not 0 <= request.weight <= MAX_WEIGHT:
        raise InvalidArgument("weight", f"must be from 0 to {MAX_WEIGHT} kg (got {request.weight})")
    if not 1 <= len(request.containers) <= MAX_CONTAINERS:
        raise InvalidArgument(
            "containers",
            f"must hold 1 to {MAX_CONTAINERS} containers (got {len(request.containers)})",
        )
    return NewConsignment(
        description=description,
        weight=request.weight,
        containers=tuple(
            _container(f"containers[{i}]", c) for i, c in enumerate(request.containers)
        ),
    )


def _container(field: str, container: consignment_pb2.Container) -> Container:
    return Container(
        id=_uuid(f"{field}.id", container.id) if container.id else uuid.uuid4(),
        customer_id=_reference(f"{field}.customer_id", container.customer_id),
        origin=_reference(f"{field}.origin", container.origin),
    )


def _reference(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_REFERENCE_LENGTH} characters")
    return value


def _uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None
