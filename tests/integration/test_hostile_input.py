"""Issue 8's NUL rows through the running stack: a NUL byte in any text field
was INTERNAL with a traceback from PostgreSQL (after a bcrypt hash was spent
on a sign-up); now it is INVALID_ARGUMENT naming the field, and nothing is stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from micro.errors import InvalidArgument
from shippy.consignment.v1 import consignment_pb2
from shippy.user.v1 import user_pb2
from shippy_kit.auth import bearer

from .helpers import signup

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub


@pytest.mark.parametrize("field", ["name", "company", "email"])
async def test_a_nul_in_a_sign_up_names_the_field_and_stores_nothing(
    users: UserServiceAsyncStub, field: str
) -> None:
    request = signup()
    setattr(request, field, getattr(request, field).replace("a", "a\x00", 1) + "\x00")
    clean_email = request.email.replace("\x00", "")

    with pytest.raises(InvalidArgument) as refused:
        await users.Create(request)

    assert refused.value.message == f"{field}: must not contain a NUL character"
    with pytest.raises(Exception, match="invalid email or password"):
        await users.Auth(user_pb2.AuthRequest(email=clean_email, password=request.password))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: setattr(r, "description", "Bananas\x00"), "description"),
        (lambda r: setattr(r.containers[0], "origin", "Man\x00chester"), "containers[0].origin"),
    ],
)
async def test_a_nul_in_a_consignment_names_the_field(
    shipping: ShippingServiceAsyncStub, token: str, change: object, field: str
) -> None:
    request = consignment_pb2.CreateConsignmentRequest(
        description="Bananas",
        weight=100,
        containers=[consignment_pb2.Container(customer_id="c1", origin="Manchester")],
    )
    change(request)  # type: ignore[operator]

    with pytest.raises(InvalidArgument) as refused:
        await shipping.CreateConsignment(request, metadata=bearer(token))

    assert refused.value.message == f"{field}: must not contain a NUL character"
    listed = await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(), metadata=bearer(token)
    )
    assert list(listed.consignments) == []
