"""Who may call what, against the running stack: every consignment-service call
and every vessel-service call needs a token signed with user-service's key,
checked by each service itself; Get and GetAll need one too; vessels are
created by operators only. Nothing registered under user-service's name can
make a forged token pass."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from micro import Options, Service
from micro.errors import PermissionDenied, Unauthenticated
from micro.registry import Registry
from nacl.signing import SigningKey
from shippy.consignment.v1 import consignment_pb2
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2
from shippy_kit.auth import bearer
from shippy_kit.token_mint import TokenMint

from .backends import SIGNING_KEY, Stack
from .helpers import Account

if TYPE_CHECKING:
    from shippy.consignment.v1.consignment_pb2_grpc import ShippingServiceAsyncStub
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub
    from shippy.vessel.v1.vessel_pb2_grpc import VesselServiceAsyncStub

Metadata = Sequence[tuple[str, str]]
CONTRABAND = consignment_pb2.CreateConsignmentRequest(
    description="Contraband",
    weight=100,
    containers=[consignment_pb2.Container(customer_id="cust001", origin="Nowhere")],
)
TINY_VESSEL = vessel_pb2.CreateRequest(
    vessel=vessel_pb2.Vessel(name="Trap", capacity=1, max_weight=1)
)


def no_token(stack: Stack, user: Account) -> Metadata:
    return ()


def not_a_bearer_token(stack: Stack, user: Account) -> Metadata:
    return (("authorization", "Basic YWRhOnNlY3JldA=="),)


def made_up(stack: Stack, user: Account) -> Metadata:
    return bearer("attacker-made-this-up")


def forged_with_another_key(stack: Stack, user: Account) -> Metadata:
    """Signed with a key of the attacker's, under the stack's own kid."""
    mint = stack.token_mint
    return bearer(mint.token(user.id, key=SigningKey.generate(), headers={"kid": mint.key_id}))


def expired(stack: Stack, user: Account) -> Metadata:
    return bearer(stack.token_mint.token(user.id, ttl=timedelta(minutes=-5)))


def from_another_issuer(stack: Stack, user: Account) -> Metadata:
    return bearer(stack.token_mint.token(user.id, claims={"iss": "someone.else"}))


def ten_years(stack: Stack, user: Account) -> Metadata:
    return bearer(stack.token_mint.token(user.id, ttl=timedelta(days=3650)))


def empty_subject(stack: Stack, user: Account) -> Metadata:
    return bearer(stack.token_mint.token(user.id, claims={"sub": ""}))


BAD_CREDENTIALS = [
    pytest.param(no_token, id="no token"),
    pytest.param(not_a_bearer_token, id="not a bearer token"),
    pytest.param(made_up, id="made up"),
    pytest.param(forged_with_another_key, id="forged with another key"),
    pytest.param(expired, id="expired"),
    pytest.param(from_another_issuer, id="from another issuer"),
    pytest.param(ten_years, id="ten years"),
    pytest.param(empty_subject, id="empty subject"),
]


@pytest.mark.needs(SIGNING_KEY)
@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
async def test_a_call_without_a_valid_token_is_unauthenticated_everywhere(
    stack: Stack,
    shipping: ShippingServiceAsyncStub,
    vessels: VesselServiceAsyncStub,
    users: UserServiceAsyncStub,
    user: Account,
    credentials: Callable[[Stack, Account], Metadata],
) -> None:
    metadata = credentials(stack, user)
    find = vessel_pb2.FindAvailableRequest(
        specification=vessel_pb2.Specification(capacity=1, max_weight=1)
    )

    with pytest.raises(Unauthenticated):
        await shipping.CreateConsignment(CONTRABAND, metadata=metadata)
    with pytest.raises(Unauthenticated):
        await shipping.GetConsignments(consignment_pb2.GetConsignmentsRequest(), metadata=metadata)
    with pytest.raises(Unauthenticated):
        await vessels.FindAvailable(find, metadata=metadata)
    with pytest.raises(Unauthenticated):
        await vessels.Create(TINY_VESSEL, metadata=metadata)
    with pytest.raises(Unauthenticated):
        await users.Get(user_pb2.GetRequest(id=user.id), metadata=metadata)
    with pytest.raises(Unauthenticated):
        await users.GetAll(user_pb2.GetAllRequest(), metadata=metadata)


@pytest.mark.needs(SIGNING_KEY)
async def test_a_token_made_here_with_the_stacks_key_is_accepted(
    stack: Stack, shipping: ShippingServiceAsyncStub, user: Account
) -> None:
    """The control for the cases above: the tokens they spoil are the real thing."""
    metadata = bearer(stack.token_mint.token(user.id, ttl=timedelta(minutes=5)))

    listed = await shipping.GetConsignments(
        consignment_pb2.GetConsignmentsRequest(), metadata=metadata
    )

    assert list(listed.consignments) == []


@pytest.mark.needs(SIGNING_KEY)
async def test_validate_token_refuses_a_token_of_a_user_who_does_not_exist(
    stack: Stack, users: UserServiceAsyncStub
) -> None:
    nobody = stack.token_mint.token(str(uuid.uuid4()))

    with pytest.raises(Unauthenticated, match="the token's user does not exist"):
        await users.ValidateToken(user_pb2.ValidateTokenRequest(token=nobody))


async def test_login_tokens_are_eddsa_with_a_kid_of_the_public_keys(
    stack: Stack, users: UserServiceAsyncStub, user: Account, token: str
) -> None:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})

    assert header["alg"] == "EdDSA"
    assert header["kid"] == stack.token_mint.key_id
    assert set(claims) == {"sub", "iss", "aud", "iat", "exp", "jti", "roles"}
    assert claims["sub"] == user.id


async def test_a_user_gets_themselves_but_not_another_user(
    users: UserServiceAsyncStub, create_user: Callable[..., Any], log_in: Callable[..., Any]
) -> None:
    alice, bob = await create_user(name="Alice"), await create_user(name="Bob")
    as_bob = bearer(await log_in(bob))

    himself = await users.Get(user_pb2.GetRequest(id=bob.id), metadata=as_bob)

    assert himself.user.email == bob.email
    with pytest.raises(PermissionDenied):
        await users.Get(user_pb2.GetRequest(id=alice.id), metadata=as_bob)
    with pytest.raises(PermissionDenied):
        await users.GetAll(user_pb2.GetAllRequest(), metadata=as_bob)


async def test_a_vessel_is_created_by_an_operator_only(
    vessels: VesselServiceAsyncStub, token: str, as_operator: Metadata
) -> None:
    with pytest.raises(PermissionDenied, match="needs the role operator or admin"):
        await vessels.Create(TINY_VESSEL, metadata=bearer(token))

    created = await vessels.Create(TINY_VESSEL, metadata=as_operator)

    assert created.vessel.capacity == 1


# A node registered as user-service in the stack's own NATS registry.


class SaysYesToEverything(user_pb2_grpc.UserServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def ValidateToken(
        self, request: user_pb2.ValidateTokenRequest, context: Any
    ) -> user_pb2.ValidateTokenResponse:
        self.calls += 1
        return user_pb2.ValidateTokenResponse(user_id=str(uuid.uuid4()))

    async def GetAll(self, request: user_pb2.GetAllRequest, context: Any) -> Any:
        self.calls += 1
        return user_pb2.GetAllResponse()


@pytest.fixture
async def impostor(stack: Stack) -> AsyncIterator[tuple[SaysYesToEverything, Registry]]:
    """A fake `shippy.user` node in the real registry, beside the real one."""
    fake = SaysYesToEverything()
    options = Options(
        registry="nats", broker="nats", nats_url=stack.nats_url, nats_login=stack.operator_login
    )  # a login that may register: with the CLI's, it could not (test_nats_authorization)
    service = Service("shippy.user", version="6.6.6", options=options)
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, fake)
    await service.start()
    try:
        yield fake, service.registry
    finally:
        await service.stop()


@pytest.mark.needs(SIGNING_KEY)
async def test_a_fake_user_service_in_the_registry_cannot_make_a_forged_token_pass(
    stack: Stack,
    impostor: tuple[SaysYesToEverything, Registry],
    shipping: ShippingServiceAsyncStub,
    vessels: VesselServiceAsyncStub,
    tmp_path: Path,
) -> None:
    fake, registry = impostor
    nodes = [n for s in await registry.get_service("shippy.user") for n in s.nodes]
    attacker = TokenMint.new(tmp_path)  # a key pair of the attacker's own
    forged = bearer(attacker.token(str(uuid.uuid4()), roles=["admin"]))

    assert len(nodes) >= 2  # the real user-service and the fake
    for _ in range(4):  # any round robin would have reached the fake by now
        with pytest.raises(Unauthenticated):
            await shipping.GetConsignments(
                consignment_pb2.GetConsignmentsRequest(), metadata=forged
            )
        with pytest.raises(Unauthenticated):
            await shipping.CreateConsignment(CONTRABAND, metadata=bearer("attacker-made-this-up"))
        with pytest.raises(Unauthenticated):
            await vessels.Create(TINY_VESSEL, metadata=forged)
    assert fake.calls == 0  # nobody asked it anything
