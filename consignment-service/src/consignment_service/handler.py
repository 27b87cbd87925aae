"""The ShippingService RPCs: validate, place on a vessel, store. No SQL here.

Every call has passed `AuthInterceptor`: the caller is `current_user_id()`.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp
from micro.errors import DeadlineExceeded, FailedPrecondition, Internal, MicroError, Unavailable
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc
from shippy.vessel.v1 import vessel_pb2
from shippy_kit import paging

from consignment_service import validation
from consignment_service.auth import current_user_id
from consignment_service.repository import (
    Consignment,
    ConsignmentExists,
    ConsignmentRepository,
)

if TYPE_CHECKING:
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub

logger = logging.getLogger("consignment_service.handler")

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class ShippingHandler(consignment_pb2_grpc.ShippingServiceServicer):
    def __init__(self, repository: ConsignmentRepository, vessels: VesselServiceAsyncStub) -> None:
        self._repository = repository
        self._vessels = vessels

    async def CreateConsignment(
        self, request: consignment_pb2.CreateConsignmentRequest, context: Context
    ) -> consignment_pb2.CreateConsignmentResponse:
        """Stores the consignment on the vessel that vessel-service picks for it.

        FAILED_PRECONDITION, with vessel-service's reason, when no vessel fits.
        Finding the vessel books room on it; when the consignment then cannot
        be stored, the booking is released (see `_release`) and the store's
        error answered.
        """
        new = validation.new_consignment(request)
        user_id = current_user_id()
        booked = await self._book_vessel(capacity=len(new.containers), max_weight=new.weight)
        vessel_id = booked.vessel.id
        try:
            consignment = await self._repository.create(
                id=uuid.uuid4(),
                user_id=user_id,
                description=new.description,
                weight=new.weight,
                containers=new.containers,
                vessel_id=vessel_id,
            )
        except ConsignmentExists as error:  # a uuid4 collision: never in practice
            await self._release(booked)
            raise Internal(f"consignment id {error} is taken") from None
        except Exception:
            await self._release(booked)
            raise
        logger.info(
            "consignment %s created for user %s: %d containers, %d kg, on vessel %s",
            consignment.id,
            user_id,
            len(consignment.containers),
            consignment.weight,
            vessel_id,
        )
        return consignment_pb2.CreateConsignmentResponse(consignment=to_message(consignment))

    async def GetConsignments(
        self, request: consignment_pb2.GetConsignmentsRequest, context: Context
    ) -> consignment_pb2.GetConsignmentsResponse:
        """One page of the caller's own consignments, newest first."""
        size = paging.page_size(request.page_size)
        after = paging.decode(request.page_token)
        found = await self._repository.list_for_user(current_user_id(), limit=size + 1, after=after)
        consignments, next_page = paging.fill(
            found, size, to_message, lambda c: paging.PageKey(c.created_at, c.id)
        )
        return consignment_pb2.GetConsignmentsResponse(
            consignments=consignments, next_page_token=next_page
        )

    async def _book_vessel(
        self, *, capacity: int, max_weight: int
    ) -> vessel_pb2.FindAvailableResponse:
        """The vessel that takes the load, and the booking of room on it."""
        spec = vessel_pb2.Specification(capacity=capacity, max_weight=max_weight)
        try:
            reply = await self._vessels.FindAvailable(
                vessel_pb2.FindAvailableRequest(specification=spec)
            )
        except FailedPrecondition as error:
            logger.info("no vessel for %d containers, %d kg: %s", capacity, max_weight, error)
            raise FailedPrecondition(error.message) from None
        except (Unavailable, DeadlineExceeded) as error:
            logger.warning("vessel-service unavailable: %s", error)
            raise Unavailable(f"cannot find a vessel: {error.message}") from None
        return reply

    async def _release(self, booked: vessel_pb2.FindAvailableResponse) -> None:
        """Give back the room of a consignment that was not stored.

        One attempt: when it fails (vessel-service gone meanwhile), the room
        stays booked, and an ERROR line names the booking so that an operator
        can release it; the caller gets the store's error all the same, which
        is what happened to their consignment.
        """
        try:
            await self._vessels.Release(vessel_pb2.ReleaseRequest(booking_id=booked.booking_id))
        except MicroError as error:
            logger.error(
                "booking %s on vessel %s stays booked: could not release it (%s)",
                booked.booking_id,
                booked.vessel.id,
                error,
            )
        else:
            logger.info(
                "booking %s on vessel %s released: its consignment was not stored",
                booked.booking_id,
                booked.vessel.id,
            )


def to_message(consignment: Consignment) -> consignment_pb2.Consignment:
    created_at = Timestamp()
    created_at.FromDatetime(consignment.created_at)
    return consignment_pb2.Consignment(
        id=str(consignment.id),
        description=consignment.description,
        weight=consignment.weight,
        containers=[
            consignment_pb2.Container(id=str(c.id), customer_id=c.customer_id, origin=c.origin)
            for c in consignment.containers
        ],
        vessel_id=consignment.vessel_id,
        user_id=consignment.user_id,
        created_at=created_at,
    )
