"""Arbitrary and malformed requests to every RPC of every service, through
the real stack: each answer is a proper status (never INTERNAL or UNKNOWN,
never a hang past the deadline), the services stay healthy, and the
databases hold nothing half-written. Arbitrary bytes on `user.created` never
stop email-service.

The stack is one of its own (a fuzzed Auth would spend the login limits of
the other tests' address). Hypothesis is derandomized, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import nats
import psycopg
import pytest
from devstack.stack import LocalStack
from devstack.unprivileged import scratch_dir
from devstack.waiting import wait_until
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc

DEADLINE = 10.0
IMPROPER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

RPCS: list[tuple[str, Callable[[grpc.Channel], Any], str, type[Message]]] = [
    ("user-service", user_pb2_grpc.UserServiceStub, "Create", user_pb2.CreateRequest),
    ("user-service", user_pb2_grpc.UserServiceStub, "Get", user_pb2.GetRequest),
    ("user-service", user_pb2_grpc.UserServiceStub, "GetAll", user_pb2.GetAllRequest),
    ("user-service", user_pb2_grpc.UserServiceStub, "Auth", user_pb2.AuthRequest),
    (
        "user-service",
        user_pb2_grpc.UserServiceStub,
        "ValidateToken",
        user_pb2.ValidateTokenRequest,
    ),
    (
        "consignment-service",
        consignment_pb2_grpc.ShippingServiceStub,
        "CreateConsignment",
        consignment_pb2.CreateConsignmentRequest,
    ),
    (
        "consignment-service",
        consignment_pb2_grpc.ShippingServiceStub,
        "GetConsignments",
        consignment_pb2.GetConsignmentsRequest,
    ),
    (
        "vessel-service",
        vessel_pb2_grpc.VesselServiceStub,
        "FindAvailable",
        vessel_pb2.FindAvailableRequest,
    ),
    ("vessel-service", vessel_pb2_grpc.VesselServiceStub, "Create", vessel_pb2.CreateRequest),
]


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kinds: dict[int, st.SearchStrategy[Any]] = {
        FieldDescriptor.TYPE_STRING: st.text(max_size=300),  # NUL and all of Unicode
        FieldDescriptor.TYPE_BYTES: st.binary(max_size=300),
        FieldDescriptor.TYPE_BOOL: st.booleans(),
        FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
        FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
        FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
        FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
        FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True),
        FieldDescriptor.TYPE_ENUM: st.integers(0, 5),
    }
    return kinds.get(field.type, st.none())


def messages(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of `cls`: every field present or not, any value of its type."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in cls.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 2 or field.message_type is None:
                continue
            nested = message_factory.GetMessageClass(field.message_type)
            value: st.SearchStrategy[Any] = messages(nested, depth + 1)
        else:
            value = scalar(field)
        fields[field.name] = st.lists(value, max_size=4) if field.is_repeated else value
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: cls(**values))


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "fuzz-") as var_dir,
        LocalStack(var_dir, env={"BCRYPT_ROUNDS": "4"}) as stack,
    ):
        yield stack


@pytest.fixture(scope="module")
def channels(fuzz_stack: LocalStack) -> Iterator[dict[str, grpc.Channel]]:
    opened = {
        name: grpc.insecure_channel(fuzz_stack.address(name))
        for name in ("user-service", "consignment-service", "vessel-service", "email-service")
    }
    yield opened
    for channel in opened.values():
        channel.close()


@pytest.fixture(scope="module")
def token(channels: dict[str, grpc.Channel]) -> str:
    users = user_pb2_grpc.UserServiceStub(channels["user-service"])
    users.Create(
        user_pb2.CreateRequest(
            name="Fuzzy", email="fuzzy@example.com", company="F", password="correct horse battery"
        ),
        timeout=DEADLINE,
    )
    reply = users.Auth(
        user_pb2.AuthRequest(email="fuzzy@example.com", password="correct horse battery"),
        timeout=DEADLINE,
    )
    return str(reply.token)


def answer_of(call: Callable[..., Any], request: Any, metadata: Any) -> grpc.StatusCode:
    started = time.monotonic()
    try:
        call(request, timeout=DEADLINE, metadata=metadata)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    else:
        code = grpc.StatusCode.OK
    assert time.monotonic() - started < DEADLINE + 1, "an answer came after the deadline"
    return code


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("service", "stub", "method", "request_type"), RPCS)
def test_any_request_gets_a_proper_status(
    channels: dict[str, grpc.Channel],
    token: str,
    service: str,
    stub: Callable[[grpc.Channel], Any],
    method: str,
    request_type: type[Message],
) -> None:
    call = getattr(stub(channels[service]), method)
    raw = channels[service].unary_unary(
        f"/{request_type.DESCRIPTOR.file.package}.{_service_name(stub)}/{method}",
        request_serializer=None,
        response_deserializer=None,
    )
    seen: list[grpc.StatusCode] = []

    @FUZZ
    @given(
        request=messages(request_type) | st.binary(max_size=200),
        metadata=st.sampled_from(
            [None, (("authorization", f"Bearer {token}"),), (("authorization", "Bearer x"),)]
        ),
    )
    def one(request: Message | bytes, metadata: Any) -> None:
        code = answer_of(raw if isinstance(request, bytes) else call, request, metadata)
        seen.append(code)
        assert code not in IMPROPER, f"{method}({request!r}) answered {code.name}"

    one()
    assert len(seen) >= 30, f"only {len(seen)} requests were sent"
    assert set(seen) - {grpc.StatusCode.OK}, "no request was refused: the fuzzing reached nothing"
    assert serving(channels[service])


def test_arbitrary_bytes_on_user_created_never_stop_email_service(
    fuzz_stack: LocalStack, channels: dict[str, grpc.Channel]
) -> None:
    async def publish_garbage() -> None:
        nc = await nats.connect(fuzz_stack.nats_url)
        js = nc.jetstream()
        for data in (b"", b"\xff" * 50, b"\x0a\xff", bytes(range(256))):
            await js.publish("user.created", data, headers={"Micro-Id": data.hex()[:16] or "e"})
        await nc.close()

    asyncio.run(publish_garbage())
    users = user_pb2_grpc.UserServiceStub(channels["user-service"])
    users.Create(
        user_pb2.CreateRequest(
            name="After", email="after@example.com", company="F", password="correct horse battery"
        ),
        timeout=DEADLINE,
    )
    assert fuzz_stack.mail_dir is not None
    wait_until(
        lambda: any(
            "after@example.com" in p.read_text() for p in fuzz_stack.mail_dir.glob("*.eml")
        ),
        30,
        "the welcome email after the garbage",
    )
    assert serving(channels["email-service"])


def test_the_databases_hold_nothing_half_written(fuzz_stack: LocalStack) -> None:
    with psycopg.connect(fuzz_stack.database_url("user-service")) as conn:
        users = {str(r[0]) for r in conn.execute("SELECT id FROM users").fetchall()}
        events = {
            events_pb2.UserCreated.FromString(bytes(r[0])).user_id
            for r in conn.execute("SELECT data FROM micro_outbox").fetchall()
        }
    assert users == events
    with psycopg.connect(fuzz_stack.database_url("consignment-service")) as conn:
        unplaced = conn.execute(
            "SELECT count(*) FROM consignments WHERE vessel_id IS NULL"
            " OR jsonb_array_length(containers) = 0"
        ).fetchone()
    assert unplaced == (0,)


def serving(channel: grpc.Channel) -> bool:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _service_name(stub: Callable[[grpc.Channel], Any]) -> str:
    return getattr(stub, "__name__", "").removesuffix("Stub")
