"""One error model for the whole system, mapped to gRPC status codes.

A handler raises one of these; the server turns it into the status code and
message the caller sees, and the client turns a status back into the same
class. Anything else a handler raises reaches the caller as INTERNAL, with
no internals, and is logged with its traceback on the server.

`InvalidArgument` names the fields that are wrong. They travel as gRPC's
richer error model: a `google.rpc.BadRequest` of field violations in the
status details, so a client in any language reads them without parsing
the message. `str()` of every error is its message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"
"""The trailing metadata key of a status's details (gRPC's richer error model)."""


class MicroError(Exception):
    """An error a caller is meant to see: a status code and a clear message."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def status_details(self) -> status_pb2.Status | None:
        """The `google.rpc.Status` sent with the code and message, if any."""
        return None


class FieldViolation(NamedTuple):
    field: str
    """The field's path in the request, e.g. "containers[1].origin"."""
    reason: str


class InvalidArgument(MicroError):
    """Request fields are missing or wrong: each violation names its field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, reason: str, *more: FieldViolation) -> None:
        self.violations = (FieldViolation(field, reason), *more)
        super().__init__("; ".join(f"{v.field}: {v.reason}" for v in self.violations))
        self.field = field
        self.reason = reason

    @classmethod
    def of(cls, violations: Iterable[FieldViolation]) -> InvalidArgument:
        first, *more = violations
        return cls(first.field, first.reason, *more)

    def status_details(self) -> status_pb2.Status:
        request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.reason)
                for v in self.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(request)
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=self.message, details=[detail]
        )


class NotFound(MicroError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MicroError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(MicroError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(MicroError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(MicroError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(MicroError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unimplemented(MicroError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Unavailable(MicroError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(MicroError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(MicroError):
    code = grpc.StatusCode.INTERNAL


class ServiceNotFound(Unavailable):
    """No node of a service is registered, or none that a selector filter
    accepts: names the service, the registry, and the reason when there is one."""

    def __init__(self, service: str, registry: str, reason: str | None = None) -> None:
        message = f'service "{service}" not found in registry {registry}'
        super().__init__(message if reason is None else f"{message}: {reason}")
        self.service = service
        self.registry = registry


_BY_CODE: dict[grpc.StatusCode, type[MicroError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        Unauthenticated,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Unimplemented,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}


def from_status(
    code: grpc.StatusCode, message: str, details: status_pb2.Status | None = None
) -> MicroError:
    """The error a client raises for a status it received."""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        violations = _violations(details)
        if violations:
            return InvalidArgument.of(violations)
        return InvalidArgument("request", message)
    error = _BY_CODE.get(code, MicroError)(message)
    error.code = code
    return error


def details_from_metadata(
    metadata: Sequence[tuple[str, str | bytes]] | None,
) -> status_pb2.Status | None:
    """The `google.rpc.Status` a server sent in its trailing metadata, if any."""
    for key, value in metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def _violations(details: status_pb2.Status | None) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    for detail in details.details if details is not None else ():
        request = error_details_pb2.BadRequest()
        if detail.Unpack(request):
            violations.extend(
                FieldViolation(v.field, v.description) for v in request.field_violations
            )
    return violations
