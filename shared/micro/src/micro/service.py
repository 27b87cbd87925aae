"""A service: a gRPC server, a broker, a registration, and their lifetime.

    service = Service("shippy.user", version="0.1.0")
    service.handle(user_pb2_grpc.add_UserServiceServicer_to_server, UserHandler())
    created = service.publisher("user.created", events_pb2.UserCreated)

    @service.subscriber("user.created", queue="shippy.email")
    async def on_user_created(event: events_pb2.UserCreated, info: EventInfo) -> None: ...

    await service.run()   # until SIGTERM or SIGINT

`start()` runs, in order: before-start hooks, the server listens, the broker
connects, subscribers attach, outbox relays start, the service registers (and
re-registers every `register_interval`, with `register_ttl`), it answers the
NATS services API (`micro.services_api`) when it has a NATS, health turns
SERVING, after-start hooks. `stop()` undoes it: before-stop hooks, health
NOT_SERVING, deregister, the services API stops, stop taking new work and wait for in-flight RPCs and
event handlers (at most `shutdown_timeout`), close the server, stop the
outbox relays (what they had not sent yet stays in the outbox for the next
start), disconnect the broker, close the registry and the client's channels,
after-stop hooks.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypedDict, TypeVar, cast

import grpc.aio
from google.protobuf.message import Message as ProtoMessage
from nats.aio.client import Client as NatsClient

from micro import plugins
from micro.broker import Broker, Subscription
from micro.client import Client
from micro.config import Options
from micro.nats_client import connect
from micro.nats_transport import NatsTransport, method_subject
from micro.outbox import Outbox, OutboxRelay
from micro.pubsub import Publisher, Subscriber
from micro.registry import Node, Registry, ServiceRecord
from micro.selector import Selector, Strategy
from micro.server import Server
from micro.services_api import Endpoint, Identity, ServicesApi
from micro.tasks import Tasks
from micro.transport import Transport

logger = logging.getLogger("micro.service")

M = TypeVar("M", bound=ProtoMessage)
S = TypeVar("S")
Hook = TypeVar("Hook", bound=Callable[[], Awaitable[None]])
EventHandler = TypeVar("EventHandler", bound=Callable[..., Awaitable[None]])
Stage = Literal["before_start", "after_start", "before_stop", "after_stop"]

NATS_BROKERS = ("nats", "jetstream")
"""Brokers that mean a NATS server is there for the services API."""
HEALTH_INTERVAL = 1.0
"""Seconds between two looks at the dependencies a service's health follows."""


class Parts(TypedDict, total=False):
    """The parts a `Service` takes as instances, for a `build_service` to pass on:

    def build_service(config: Config, options: Options, **parts: Unpack[Parts]) -> Service:
        service = Service("shippy.user", options=options, **parts)
    """

    registry: Registry
    broker: Broker
    selector: Selector
    transport: Transport


class Service:
    """A named service. Its parts are plugins: pass instances, or let
    `options` name them (`MICRO_BROKER=jetstream`, found by entry point).

    A part passed in stays the caller's: the service connects a broker it is
    given but does not disconnect it, nor close a given registry, so one
    `MemoryBroker` can serve several services on purpose. Parts the service
    made from `options` are its own, and it closes them when it stops."""

    def __init__(
        self,
        name: str,
        version: str = "latest",
        options: Options | None = None,
        *,
        registry: Registry | None = None,
        broker: Broker | None = None,
        selector: Selector | None = None,
        transport: Transport | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.name = name
        self.version = version
        self.options = options = options or Options.from_env()
        self.id = options.server_id or f"{name}-{uuid.uuid4()}"
        self._owns_registry = registry is None
        self.registry = registry or plugins.registry(options)
        self._owns_broker = broker is None
        self.broker = broker or plugins.broker(options)
        self._owns_selector = selector is None
        self.selector = selector or Selector(self.registry, cast(Strategy, options.selector))
        self._owns_transport = transport is None
        self.transport = transport or plugins.transport(options)
        self.client = Client(
            self.registry,
            self.selector,
            options.client_timeout,
            transport=self.transport,
            options=options,
        )
        self.server = Server(
            options.server_address, interceptors, self.transport, service=name, instance=self.id
        )
        self._services_api: ServicesApi | None = None
        self._services_api_nc: NatsClient | None = None
        """The services API's own NATS connection, when the transport has none."""
        self._subscribers: list[Subscriber[Any]] = []
        self._subscriptions: list[Subscription] = []
        self._relays: list[OutboxRelay] = []
        self._dependencies: dict[str, Callable[[], Awaitable[bool]]] = {}
        self._hooks: dict[Stage, list[Callable[[], Awaitable[None]]]] = {
            "before_start": [],
            "after_start": [],
            "before_stop": [],
            "after_stop": [],
        }
        self._state: Literal["new", "starting", "started", "stopped"] = "new"
        self._record: ServiceRecord | None = None
        self._tasks = Tasks(name)
        self._relaying = Tasks(f"{name} outbox")
        """The relays run until the server has finished its in-flight calls,
        so that what those calls wrote to an outbox is sent before the broker closes."""
        self._stop_requested = asyncio.Event()
        self._stopping = asyncio.Lock()

    @property
    def address(self) -> str:
        """host:port the server is bound to, once started."""
        return self.server.address

    def handle(self, add_to_server: Callable[[S, Any], None], servicer: S) -> None:
        """Serve `servicer`: `service.handle(add_UserServiceServicer_to_server, handler)`."""
        self.server.handle(add_to_server, servicer)

    def wrap(self, interceptor: grpc.aio.ServerInterceptor) -> None:
        """Add a server wrapper (a gRPC interceptor) before the service starts;
        one that calls other services can take a stub of `service.client`."""
        self.server.wrap(interceptor)

    def publisher(
        self, topic: str, message_type: type[M], *, outbox: Outbox | None = None
    ) -> Publisher[M]:
        """A publisher of `message_type` events on `topic`, on this service's broker.

        With `outbox`, it writes each event in the caller's database
        transaction instead, and the service relays the outbox's events to
        its broker while it runs (see `micro.outbox`)."""
        if outbox is None:
            return Publisher(topic, message_type, self.broker)
        if self._state != "new":
            raise RuntimeError("outbox publishers must be made before the service starts")
        if all(relay.outbox is not outbox for relay in self._relays):
            self._relays.append(OutboxRelay(outbox, self.broker.publish))
        return Publisher(topic, message_type, outbox)

    def subscriber(
        self, topic: str, queue: str | None = None
    ) -> Callable[[EventHandler], EventHandler]:
        """Decorator: the function handles the events on `topic` once the
        service starts; its first parameter's annotation is the event type."""

        def register(handler: EventHandler) -> EventHandler:
            if self._state != "new":
                raise RuntimeError("subscribers must be added before the service starts")
            self._subscribers.append(Subscriber(topic, handler, queue=queue))
            return handler

        return register

    def depends_on(self, name: str, is_up: Callable[[], Awaitable[bool]]) -> None:
        """Health follows `is_up()`: while it says False (or raises), the service
        answers NOT_SERVING on grpc.health.v1, and SERVING again once it is back.
        A service with subscribers depends on its broker without being told."""
        if self._state != "new":
            raise RuntimeError("dependencies must be added before the service starts")
        self._dependencies[name] = is_up

    def before_start(self, hook: Hook) -> Hook:
        return self._add_hook("before_start", hook)

    def after_start(self, hook: Hook) -> Hook:
        return self._add_hook("after_start", hook)

    def before_stop(self, hook: Hook) -> Hook:
        return self._add_hook("before_stop", hook)

    def after_stop(self, hook: Hook) -> Hook:
        return self._add_hook("after_stop", hook)

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"service {self.name} can start only once")
        self._state = "starting"
        try:
            await self._run_hooks("before_start")
            await self.server.start()
            await self.broker.connect()
            for subscriber in self._subscribers:
                self._subscriptions.append(await subscriber.attach(self.broker))
            for relay in self._relays:
                self._relaying.spawn(relay.run(), name="outbox relay")
            self._record = self._make_record()
            await self.registry.register(self._record, self.options.register_ttl)
            self._tasks.spawn(self._keep_registered(self._record), name="registry heartbeat")
            await self._start_services_api(self._record.nodes[0])
            await self.server.set_serving(True)
            if self._subscribers:
                self._dependencies.setdefault(f"broker {self.broker.name}", self._broker_up)
            if self._dependencies:
                self._tasks.spawn(self._follow_dependencies(), name="dependency health")
            await self._run_hooks("after_start")
        except BaseException:
            logger.error("%s failed to start; closing what started", self.name)
            await self._tear_down()
            self._state = "stopped"
            raise
        self._state = "started"

    async def stop(self) -> None:
        """Stop gracefully; safe to call more than once, and from several tasks."""
        self._stop_requested.set()
        async with self._stopping:
            if self._state == "stopped":
                return
            if self._state == "new":
                await self._close_clients()
                self._state = "stopped"
                return
            logger.info("%s stopping", self.name)
            await self._attempt("before-stop hooks", self._run_hooks("before_stop"))
            await self._tear_down()
            self._state = "stopped"
            await self._attempt("after-stop hooks", self._run_hooks("after_stop"))
            logger.info("%s stopped", self.name)

    async def run(self) -> None:
        """Start, serve until SIGTERM or SIGINT (or `stop()`), then stop."""
        _log_to_stderr_unless_configured()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.start()
            logger.info("%s %s listening on %s", self.name, self.version, self.address)
            await self._stop_requested.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self.stop()

    def _on_signal(self, sig: signal.Signals) -> None:
        logger.info("%s received %s", self.name, sig.name)
        self._stop_requested.set()

    async def _tear_down(self) -> None:
        """Undo what `start` did, in reverse, going on when a step fails."""
        if self.server.address:
            await self._attempt("health", self.server.set_serving(False))
        await self._tasks.aclose()
        if self._record is not None:
            await self._attempt("deregister", self.registry.deregister(self._record))
        if self._services_api is not None:
            await self._attempt("services api", self._services_api.stop())
        await asyncio.gather(
            self._attempt("server stop", self.server.stop(self.options.shutdown_timeout)),
            self._attempt("unsubscribe", self._unsubscribe_all()),
        )
        await self._relaying.aclose()
        if self._owns_broker:
            await self._attempt("broker disconnect", self.broker.disconnect())
        if self._services_api_nc is not None:
            await self._attempt("services api disconnect", self._services_api_nc.close())
        await self._close_clients()

    async def _close_clients(self) -> None:
        await self._attempt("client close", self.client.close())
        if self._owns_transport:
            await self._attempt("transport close", self.transport.close())
        if self._owns_selector:
            await self._attempt("selector close", self.selector.close())
        if self._owns_registry:
            await self._attempt("registry close", self.registry.close())

    async def _unsubscribe_all(self) -> None:
        """Stop the subscriptions, waiting for running handlers (bounded)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        timeout = self.options.shutdown_timeout
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(s.unsubscribe() for s in subscriptions))
        except TimeoutError:
            logger.warning(
                "%s: event handlers still running after %gs: cancelled", self.name, timeout
            )

    async def _broker_up(self) -> bool:
        return self.broker.connected

    async def _follow_dependencies(self) -> None:
        """Every `HEALTH_INTERVAL`, ask each dependency whether it is up, and
        turn health to NOT_SERVING while one is not (logged once each way)."""
        down: set[str] = set()
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            now_down = {name for name, is_up in self._dependencies.items() if not await _ask(is_up)}
            for name in sorted(now_down - down):
                logger.warning("%s: %s is down: health NOT_SERVING", self.name, name)
            for name in sorted(down - now_down):
                logger.info("%s: %s is back", self.name, name)
            if bool(now_down) != bool(down):
                await self.server.set_serving(not now_down)
            down = now_down

    async def _keep_registered(self, record: ServiceRecord) -> None:
        while True:
            await asyncio.sleep(self.options.register_interval)
            try:
                await self.registry.register(record, self.options.register_ttl)
            except Exception as e:
                logger.warning("%s: re-registering failed: %s", self.name, e)

    def _make_record(self) -> ServiceRecord:
        address = self.server.address
        if _is_host_port(address):
            address = self.options.advertise or _dialable(address)
        node = Node(
            id=self.id,
            address=address,
            metadata={
                **self.options.metadata,
                "version": self.version,
                "protocol": self.transport.name,
            },
        )
        return ServiceRecord(self.name, self.version, (node,), self.server.endpoints)

    async def _start_services_api(self, node: Node) -> None:
        """Answer the NATS services API, on the transport's NATS connection, or
        else on one of its own when the registry or the broker is NATS-based;
        with neither (memory, etcd, MQTT ...), there is no NATS to answer on."""
        if isinstance(self.transport, NatsTransport):
            nc = await self.transport.connection()
            endpoints = [
                Endpoint(stats, method_subject(node.address, method), self.name)
                for method, stats in self.server.stats.items()
            ]
            metadata = {"protocol": self.transport.name}
        elif self.registry.name == "nats" or self.broker.name in NATS_BROKERS:
            nc = self._services_api_nc = await connect(
                self.options.nats_url, f"{self.name} services api", login=self.options.nats_login
            )
            endpoints = [Endpoint(stats) for stats in self.server.stats.values()]
            metadata = {"protocol": self.transport.name, "grpc_address": node.address}
        else:
            logger.info("%s: no NATS in use: the NATS services API is not answered", self.name)
            return
        identity = Identity(self.name, self.version, self.id, metadata)
        self._services_api = ServicesApi(identity, endpoints)
        await self._services_api.start(nc)

    def _add_hook(self, stage: Stage, hook: Hook) -> Hook:
        self._hooks[stage].append(hook)
        return hook

    async def _run_hooks(self, stage: Stage) -> None:
        for hook in self._hooks[stage]:
            await hook()

    async def _attempt(self, step: str, action: Awaitable[None]) -> None:
        try:
            await action
        except Exception:
            logger.exception("%s: %s failed during stop", self.name, step)


async def _ask(is_up: Callable[[], Awaitable[bool]]) -> bool:
    try:
        async with asyncio.timeout(HEALTH_INTERVAL):
            return await is_up()
    except Exception:  # a check that fails or hangs says "down"
        return False


def _is_host_port(address: str) -> bool:
    """Whether `address` is a host:port (a NATS node's is a subject prefix)."""
    return ":" in address


def _dialable(address: str) -> str:
    """A bound address others can dial: a wildcard host becomes the host name."""
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def _log_to_stderr_unless_configured() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
