"""Login attempts limited per email and per client address: token buckets with
a clock the tests move, the handler that asks them before any bcrypt work, and
what a client sees through the real gRPC server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest
from micro import Publisher, Service
from micro.errors import ResourceExhausted, Unauthenticated
from nacl.signing import SigningKey
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc
from shippy_kit.tokens import TokenVerifier, key_id
from user_service.config import Config
from user_service.handler import UserHandler
from user_service.limits import LoginLimits, Rate, TokenBuckets, client_address
from user_service.passwords import PasswordHasher
from user_service.repository import UserRepository
from user_service.tokens import Tokens

if TYPE_CHECKING:
    from shippy.user.v1.user_pb2_grpc import UserServiceAsyncStub as Users

PASSWORD = "correct horse battery staple"
ADA = "ada@example.com"
ATTACKER = "ipv4:203.0.113.9:40000"
OFFICE = "ipv4:198.51.100.7:51234"
PER_EMAIL = Rate(per_minute=5, burst=10)
PER_ADDRESS = Rate(per_minute=60, burst=100)


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingHasher(PasswordHasher):
    """bcrypt as the service does it, counting each check."""

    def __init__(self) -> None:
        super().__init__(rounds=4)
        self.checks = 0

    async def verify(self, password: str, hashed: str) -> bool:
        self.checks += 1
        return await super().verify(password, hashed)

    async def verify_nothing(self, password: str) -> None:
        self.checks += 1
        await super().verify_nothing(password)


class Peer:
    """The part of a gRPC servicer context that Auth uses."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self.trailing_metadata: tuple[tuple[str, str], ...] = ()

    def peer(self) -> str:
        return self._peer

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing_metadata = metadata


def from_(peer: str) -> Any:
    return cast(Any, Peer(peer))


def login(email: str = ADA, password: str = PASSWORD) -> user_pb2.AuthRequest:
    return user_pb2.AuthRequest(email=email, password=password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
async def handler(repository: UserRepository, hasher: CountingHasher, clock: Clock) -> UserHandler:
    key = SigningKey.generate()
    verifier = TokenVerifier({key_id(key.verify_key): key.verify_key})
    handler = UserHandler(
        repository,
        hasher,
        Tokens(key, verifier, ttl=timedelta(hours=1)),
        Publisher("user.created", events_pb2.UserCreated, _Discard()),
        LoginLimits(PER_EMAIL, PER_ADDRESS, clock=clock),
    )
    for email in (ADA, "grace@example.com"):
        request = user_pb2.CreateRequest(name="Someone", email=email, password=PASSWORD)
        await handler.Create(request, from_(OFFICE))
    return handler


class _Discard:
    async def publish(self, topic: str, data: bytes, headers: object) -> None:
        pass


async def wrong_logins(handler: UserHandler, count: int, email: str = ADA) -> list[str]:
    """The error of each of `count` logins with a wrong password, from ATTACKER."""
    errors = []
    for _ in range(count):
        with pytest.raises((Unauthenticated, ResourceExhausted)) as raised:
            await handler.Auth(login(email, "not the password"), from_(ATTACKER))
        errors.append(type(raised.value).__name__)
    return errors


async def test_fifty_wrong_logins_for_one_email_are_limited(handler: UserHandler) -> None:
    errors = await wrong_logins(handler, 50)

    assert errors == ["Unauthenticated"] * PER_EMAIL.burst + ["ResourceExhausted"] * 40


async def test_thirty_two_wrong_logins_at_once_are_limited_as_well(handler: UserHandler) -> None:
    """The issue's second probe: 32 in parallel get no more than the burst."""

    async def one() -> str:
        try:
            await handler.Auth(login(ADA, "not the password"), from_(ATTACKER))
        except (Unauthenticated, ResourceExhausted) as error:
            return type(error).__name__
        return "accepted"

    at_once = await asyncio.gather(*(one() for _ in range(32)))

    assert sorted(at_once) == ["ResourceExhausted"] * 22 + ["Unauthenticated"] * PER_EMAIL.burst


async def test_a_limited_login_says_when_to_retry(handler: UserHandler) -> None:
    await wrong_logins(handler, PER_EMAIL.burst)
    context = Peer(ATTACKER)

    with pytest.raises(ResourceExhausted) as raised:
        await handler.Auth(login(), cast(Any, context))

    assert str(raised.value) == "too many login attempts: try again in 12 s"  # 1 of 5 a minute
    assert context.trailing_metadata == (("retry-after", "12"),)


async def test_a_limited_login_spends_no_bcrypt(
    handler: UserHandler, hasher: CountingHasher
) -> None:
    await wrong_logins(handler, PER_EMAIL.burst)
    spent = hasher.checks

    await wrong_logins(handler, 20)

    assert spent == PER_EMAIL.burst
    assert hasher.checks == spent


async def test_another_email_from_another_address_is_not_affected(handler: UserHandler) -> None:
    await wrong_logins(handler, 50)

    reply = await handler.Auth(login("grace@example.com"), from_(OFFICE))

    assert reply.token


async def test_the_right_password_works_again_once_the_bucket_refills(
    handler: UserHandler, clock: Clock
) -> None:
    await wrong_logins(handler, 50)
    with pytest.raises(ResourceExhausted):
        await handler.Auth(login(), from_(OFFICE))  # Ada's email is limited from anywhere

    clock.advance(12)  # one attempt back, at 5 a minute
    reply = await handler.Auth(login(), from_(OFFICE))

    assert reply.token


async def test_one_address_is_limited_across_emails(handler: UserHandler) -> None:
    errors = []
    for n in range(PER_ADDRESS.burst + 1):
        errors += await wrong_logins(handler, 1, email=f"guess{n}@example.com")

    assert errors[-2:] == ["Unauthenticated", "ResourceExhausted"]


def test_a_bucket_refills_at_its_rate_up_to_its_burst(clock: Clock) -> None:
    buckets = TokenBuckets(Rate(per_minute=6, burst=2), clock=clock)
    buckets.take("ada")
    buckets.take("ada")

    assert buckets.wait("ada") == pytest.approx(10)
    clock.advance(4)
    assert buckets.wait("ada") == pytest.approx(6)
    clock.advance(3600)  # a long rest gives back the burst, no more
    buckets.take("ada")
    buckets.take("ada")
    assert buckets.wait("ada") == pytest.approx(10)
    assert buckets.wait("grace") == 0


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:10.0.0.7:51234", "10.0.0.7"),
        ("ipv6:[::1]:51234", "::/64"),
        ("ipv6:%5B2001:db8:1:2:3:4:5:6%5D:443", "2001:db8:1:2::/64"),
        ("unix:/run/user.sock", "unix:/run/user.sock"),
    ],
)
def test_the_client_address_is_the_peer_without_its_port(peer: str, address: str) -> None:
    assert client_address(peer) == address


def test_the_limits_come_from_the_environment(config: Config) -> None:
    env = {
        "DATABASE_URL": config.database_url,
        "JWT_PRIVATE_KEY_FILE": str(config.jwt_private_key_file),
        "AUTH_EMAIL_ATTEMPTS_PER_MINUTE": "3",
        "AUTH_EMAIL_ATTEMPTS_BURST": "4",
        "AUTH_ADDRESS_ATTEMPTS_PER_MINUTE": "30",
        "AUTH_ADDRESS_ATTEMPTS_BURST": "40",
    }

    configured = Config.from_env(env)

    assert configured.auth_per_email == Rate(per_minute=3, burst=4)
    assert configured.auth_per_address == Rate(per_minute=30, burst=40)


async def test_a_client_sees_resource_exhausted_with_a_retry_after(
    users: Users, service: Service
) -> None:
    await users.Create(user_pb2.CreateRequest(name="Ada", email=ADA, password=PASSWORD))
    for _ in range(Config.auth_per_email.burst):
        with pytest.raises(Unauthenticated):
            await users.Auth(login(password="not the password"))

    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Auth(login())

    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.details() == "too many login attempts: try again in 12 s"
    assert ("retry-after", "12") in tuple(raised.value.trailing_metadata() or ())
