"""Server reflection, loaded when a tool first asks for it.

    server.add_generic_rpc_handlers((Reflection(service_names),))

grpc_reflection imports protobuf's descriptor_pb2, a few MiB of resident
memory that a service nobody inspects never needs. `Reflection` answers the
reflection service's one method (grpc.reflection.v1alpha, the version
grpcio-reflection serves; grpcurl falls back to it) and imports
grpc_reflection on the first call to it; later calls reuse its servicer.
The services listed are those given and the reflection service itself, as
`grpc_reflection`'s `enable_server_reflection` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

SERVICE_NAME = "grpc.reflection.v1alpha.ServerReflection"
METHOD = f"/{SERVICE_NAME}/ServerReflectionInfo"


class Reflection(grpc.GenericRpcHandler):
    """A generic handler for METHOD, which loads grpc_reflection when called."""

    def __init__(self, service_names: Iterable[str]) -> None:
        self.service_names = (*service_names, SERVICE_NAME)
        self._handler: grpc.RpcMethodHandler[Any, Any] | None = None

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if handler_call_details.method != METHOD:
            return None
        if self._handler is None:
            self._handler = _reflection_handler(self.service_names)
        return self._handler


def _reflection_handler(service_names: tuple[str, ...]) -> grpc.RpcMethodHandler[Any, Any]:
    """grpc_reflection's asyncio servicer for `service_names`, as its
    generated code registers it."""
    from grpc_reflection.v1alpha import (  # type: ignore[import-untyped]
        reflection,
        reflection_pb2,
    )

    servicer = reflection.aio.ReflectionServicer(service_names)
    return grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
