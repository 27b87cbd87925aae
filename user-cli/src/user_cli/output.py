"""How replies look: short text for people, or protobuf JSON (`--json`, `shippy_kit.cli.as_json`)
for scripts."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp
from shippy.user.v1 import user_pb2
from shippy_kit.cli import table


def created(reply: user_pb2.CreateResponse) -> str:
    user = reply.user
    return f"created user {user.id}: {user.name} <{user.email}> at {user.company}"


def token(reply: user_pb2.AuthResponse) -> str:
    """Only the token, so that `TOKEN=$(user-cli login ...)` works."""
    return reply.token


def user(reply: user_pb2.GetResponse) -> str:
    u = reply.user
    return fields(
        ("id", u.id),
        ("name", u.name),
        ("email", u.email),
        ("company", u.company),
        ("created", timestamp(u.created_at)),
    )


def users(reply: user_pb2.GetAllResponse) -> str:
    if not reply.users:
        return "no users"
    return table(
        ("ID", "NAME", "EMAIL", "COMPANY", "CREATED"),
        [(u.id, u.name, u.email, u.company, timestamp(u.created_at)) for u in reply.users],
    )


def token_check(reply: user_pb2.ValidateTokenResponse) -> str:
    return fields(("valid for user", reply.user_id), ("expires", timestamp(reply.expires_at)))


def timestamp(value: Timestamp) -> str:
    if not value.seconds and not value.nanos:
        return "-"
    return value.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fields(*pairs: tuple[str, str]) -> str:
    width = max(len(label) for label, _ in pairs) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in pairs)
