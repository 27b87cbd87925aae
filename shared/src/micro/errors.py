"""One error model for the whole system, mapped to gRPC status codes.

A handler raises one of these; the server turns it into the status code and
message the caller sees, and the client turns a status back into the same
class. Anything else a handler raises reaches the caller as INTERNAL, with
no internals, and is logged with its traceback on the server.
"""

from __future__ import annotations

import grpc


class MicroError(Exception):
    """An error a caller is meant to see: a status code and a clear message."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(MicroError):
    """A request field is missing or wrong: the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(MicroError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MicroError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(MicroError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(MicroError):
    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(MicroError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(MicroError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(MicroError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(MicroError):
    code = grpc.StatusCode.INTERNAL


class ServiceNotFound(Unavailable):
    """No node of a service is registered: names the service and the registry."""

    def __init__(self, service: str, registry: str) -> None:
        super().__init__(f'service "{service}" not found in registry {registry}')
        self.service = service
        self.registry = registry


_BY_CODE: dict[grpc.StatusCode, type[MicroError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        Unauthenticated,
        PermissionDenied,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}


def from_status(code: grpc.StatusCode, message: str) -> MicroError:
    """The error a client raises for a status it received."""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        field, sep, reason = message.partition(": ")
        return InvalidArgument(field, reason) if sep else InvalidArgument("request", message)
    error = _BY_CODE.get(code, MicroError)(message)
    error.code = code
    return error
