"""The gRPC server of a service: your servicers, plus health and reflection.

    server = Server("127.0.0.1:0")
    server.handle(user_pb2_grpc.add_UserServiceServicer_to_server, UserHandler())
    await server.start()            # server.address == "127.0.0.1:40123"
    await server.set_serving(True)  # grpc.health.v1: SERVING
    ...
    await server.stop(grace=10)     # in-flight RPCs finish, new ones are refused

`handle()` takes the generated `add_..._to_server` function, so a service is
wired the way the grpcio docs show. It records the service and its methods
(the endpoints a registry record lists) and wraps each method in the error
mapping of `micro.wrappers`. The standard health service answers for the
whole server ("") and for each handled service by name; server reflection
lets tools such as grpcurl list and call the services (`micro.reflection`:
loaded on the first reflection call, so a server nobody inspects never pays
for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_health.v1.health import aio as health_aio  # type: ignore[import-untyped]

from micro.reflection import Reflection
from micro.services_api import EndpointStats
from micro.transport import GrpcTransport, RpcServer, Transport
from micro.wrappers import ErrorInterceptor, MethodHandler, counted, wrap_handler

S = TypeVar("S")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Server:
    def __init__(
        self,
        address: str = "127.0.0.1:0",
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        transport: Transport | None = None,
        *,
        service: str = "server",
        instance: str = "server",
    ) -> None:
        self.bind = address
        """host:port to listen on; port 0 picks a free port."""
        self.address = ""
        """Where clients reach it, once started: the host:port bound (gRPC),
        or its subjects' prefix (NATS)."""
        self.service = service
        """The service's name and this instance's id: what a NATS server subscribes by."""
        self.instance = instance
        self.transport: Transport = transport or GrpcTransport()
        """Listens for the server: in the clear, or with TLS."""
        self._interceptors = tuple(interceptors)
        self._services: dict[str, dict[str, MethodHandler]] = {}
        self.stats: dict[str, EndpointStats] = {}
        """Each handled method's calls, by full name ("/pkg.Service/Method"):
        what the services API's STATS answers, over either transport."""
        self._server: RpcServer | None = None
        self._health: Any = None

    def wrap(self, interceptor: grpc.aio.ServerInterceptor) -> None:
        """Add a wrapper after those given so far; calls pass them in order."""
        if self._server is not None:
            raise RuntimeError("wrap() must be called before the server starts")
        self._interceptors = (*self._interceptors, interceptor)

    def handle(self, add_to_server: Callable[[S, Any], None], servicer: S) -> None:
        """Serve `servicer` through its generated `add_..._to_server` function."""
        if self._server is not None:
            raise RuntimeError("handle() must be called before the server starts")
        recorder = _Recorder()
        add_to_server(servicer, recorder)
        if not recorder.services:
            raise TypeError(
                f"{getattr(add_to_server, '__name__', add_to_server)} registered no methods: "
                "regenerate the stubs with grpcio-tools >= 1.63"
            )
        for name, handlers in recorder.services.items():
            self._services[name] = {
                method: wrap_handler(f"/{name}/{method}", handler)
                for method, handler in handlers.items()
            }
            self.stats.update(
                (f"/{name}/{method}", EndpointStats(f"{name}/{method}")) for method in handlers
            )

    @property
    def service_names(self) -> tuple[str, ...]:
        """The handled gRPC services, e.g. "shippy.user.v1.UserService"."""
        return tuple(self._services)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Every handled method, e.g. "shippy.user.v1.UserService/Create"."""
        return tuple(f"{name}/{m}" for name, methods in self._services.items() for m in methods)

    async def start(self) -> str:
        """Listen, and return the bound host:port. Health says NOT_SERVING
        until `set_serving(True)`."""
        self._health = health_aio.HealthServicer()
        server = self.transport.server(self._all_interceptors(), self.service, self.instance)
        for name, handlers in self._served().items():
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
            server.add_registered_method_handlers(name, handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        server.add_generic_rpc_handlers((Reflection((*self._services, health_name)),))
        address = self.transport.listen(server, self.bind)
        self._server = server
        await self.set_serving(False)
        await server.start()
        self.address = address
        return self.address

    async def set_serving(self, serving: bool) -> None:
        """Health of the whole server and of each handled service."""
        status = SERVING if serving else NOT_SERVING
        for name in ("", *self._services):
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        """Refuse new RPCs, give in-flight ones up to `grace` seconds, close."""
        server, self._server = self._server, None
        if server is None:
            return
        await self.set_serving(False)
        await server.stop(grace)

    def _served(self) -> dict[str, dict[str, MethodHandler]]:
        """The handlers the server is given: with wrappers, the outermost one
        counts the calls; without, each handler counts its own."""
        if self._interceptors:
            return self._services
        return {
            name: {m: counted(h, self.stats[f"/{name}/{m}"]) for m, h in methods.items()}
            for name, methods in self._services.items()
        }

    def _all_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        if not self._interceptors:
            return []
        by_method = {
            f"/{name}/{m}": handler
            for name, methods in self._services.items()
            for m, handler in methods.items()
        }
        return [ErrorInterceptor(by_method, self.stats), *self._interceptors]


class _Recorder:
    """Stands in for a grpc server while a generated `add_..._to_server` runs."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, MethodHandler]] = {}

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, MethodHandler]
    ) -> None:
        self.services[service_name] = dict(method_handlers)

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """Generated code registers its methods both ways; the registered
        ones above say the same, by name."""
