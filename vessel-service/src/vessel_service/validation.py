"""Checks on requests: each failure names the field, as `InvalidArgument` does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from micro.errors import InvalidArgument
from shippy.vessel.v1 import vessel_pb2

from vessel_service.repository import Vessel

MAX_NAME_LENGTH = 255
MAX_OWNER_ID_LENGTH = 255
MAX_CAPACITY = 100_000
"""Containers: more than the largest ships afloat carry."""
MAX_WEIGHT = 1_000_000_000
"""Kilograms: a million tonnes, several times the largest ships afloat."""


@dataclass(frozen=True)
class Specification:
    capacity: int
    max_weight: int


def specification(request: vessel_pb2.FindAvailableRequest) -> Specification:
    if not request.HasField("specification"):
        raise InvalidArgument("specification", "is required")
    spec = request.specification
    return Specification(
        capacity=_bounded("specification.capacity", spec.capacity, 0, MAX_CAPACITY),
        max_weight=_bounded("specification.max_weight", spec.max_weight, 0, MAX_WEIGHT),
    )


def booking_id(request: vessel_pb2.ReleaseRequest) -> uuid.UUID:
    if not request.booking_id:
        raise InvalidArgument("booking_id", "is required")
    return _uuid("booking_id", request.booking_id)


def new_vessel(request: vessel_pb2.CreateRequest, default_owner: str = "") -> Vessel:
    """The vessel to store: a new id when none is given, `default_owner` when
    no owner is, nothing booked, and always available."""
    if not request.HasField("vessel"):
        raise InvalidArgument("vessel", "is required")
    vessel = request.vessel
    name = vessel.name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidArgument("vessel.name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    if len(vessel.owner_id) > MAX_OWNER_ID_LENGTH:
        raise InvalidArgument(
            "vessel.owner_id", f"must be at most {MAX_OWNER_ID_LENGTH} characters"
        )
    return Vessel(
        id=_uuid("vessel.id", vessel.id) if vessel.id else uuid.uuid4(),
        name=name,
        capacity=_bounded("vessel.capacity", vessel.capacity, 1, MAX_CAPACITY),
        max_weight=_bounded("vessel.max_weight", vessel.max_weight, 1, MAX_WEIGHT),
        available=True,
        owner_id=vessel.owner_id or default_owner,
    )


def _bounded(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be from {low} to {high} (got {value})")
    return value


def _uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None
