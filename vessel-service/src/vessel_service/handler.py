"""The VesselService RPCs: validate, ask the repository, answer. No SQL here.

Every call has passed `shippy_kit.auth.TokenInterceptor` (a valid token,
checked locally). `Create` needs the `operator` or `admin` role as well;
`Release` is for the caller who booked (or an admin).
"""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

import grpc.aio
from micro.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc
from shippy_kit.auth import current_claims, require_role
from shippy_kit.tokens import ADMIN, OPERATOR

from vessel_service import validation
from vessel_service.repository import Vessel, VesselExists, VesselRepository

logger = logging.getLogger("vessel_service.handler")

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class VesselHandler(vessel_pb2_grpc.VesselServiceServicer):
    def __init__(self, repository: VesselRepository) -> None:
        self._repository = repository

    async def FindAvailable(
        self, request: vessel_pb2.FindAvailableRequest, context: Context
    ) -> vessel_pb2.FindAvailableResponse:
        """Books the load on the smallest available vessel with room left for
        it, and answers that vessel; FAILED_PRECONDITION when none has room.

        Booking here is what makes a vessel fill up: consignment-service asks
        once per consignment, on behalf of (with the token of) its creator.
        """
        spec = validation.specification(request)
        booked = await self._repository.book(
            capacity=spec.capacity, max_weight=spec.max_weight, booked_by=current_claims().subject
        )
        if booked is None:
            raise FailedPrecondition(
                f"no available vessel fits capacity {spec.capacity} and weight {spec.max_weight} kg"
            )
        vessel, booking = booked
        return vessel_pb2.FindAvailableResponse(
            vessel=to_message(vessel), booking_id=str(booking.id)
        )

    async def Release(
        self, request: vessel_pb2.ReleaseRequest, context: Context
    ) -> vessel_pb2.ReleaseResponse:
        """Gives back the room of a booking FindAvailable made for the caller.

        PERMISSION_DENIED for another caller's booking (an admin may release
        any), NOT_FOUND for none; a booking released before stays released.
        """
        booking_id = validation.booking_id(request)
        caller = current_claims()
        booking = await self._repository.booking(booking_id)
        if booking is None:
            raise NotFound(f'booking "{booking_id}" not found')
        if booking.booked_by != caller.subject and not caller.has_role(ADMIN):
            raise PermissionDenied("only who booked it, or an admin, may release a booking")
        vessel = await self._repository.release(booking_id)
        assert vessel is not None  # the booking exists, so its vessel does
        logger.info(
            "booking %s released: %d containers, %d kg back on vessel %s",
            booking_id,
            booking.containers,
            booking.weight,
            vessel.id,
        )
        return vessel_pb2.ReleaseResponse(vessel=to_message(vessel))

    async def Create(
        self, request: vessel_pb2.CreateRequest, context: Context
    ) -> vessel_pb2.CreateResponse:
        """Adds a vessel to the fleet, available at once.

        The request's `available` is ignored: proto3 cannot tell "false" from
        "not given", and a new vessel that could never be found would be a trap.
        Needs an `operator` or `admin` token (PERMISSION_DENIED otherwise); the
        owner is the caller unless an admin names another.
        """
        caller = require_role(OPERATOR, ADMIN)
        vessel = validation.new_vessel(request, default_owner=caller.subject)
        if vessel.owner_id != caller.subject and not caller.has_role(ADMIN):
            raise PermissionDenied("only an admin may create a vessel for another owner")
        try:
            await self._repository.create(vessel)
        except VesselExists:
            raise AlreadyExists(f'vessel "{vessel.id}" already exists') from None
        logger.info(
            "vessel %s created: %r, capacity %d, max weight %d kg",
            vessel.id,
            vessel.name,
            vessel.capacity,
            vessel.max_weight,
        )
        return vessel_pb2.CreateResponse(vessel=to_message(vessel))


def to_message(vessel: Vessel) -> vessel_pb2.Vessel:
    return vessel_pb2.Vessel(
        id=str(vessel.id),
        name=vessel.name,
        capacity=vessel.capacity,
        max_weight=vessel.max_weight,
        available=vessel.available,
        owner_id=vessel.owner_id,
    )
