"""How RPCs travel: the channel a client dials and the server that answers.

    transport = GrpcTransport()                                    # plain TCP
    transport = GrpcTransport(Tls(ca=ca_pem, cert=cert_pem, key=key_pem))  # TLS
    transport = NatsTransport("nats://127.0.0.1:4222")             # micro.nats_transport

A `Transport` is the client's one seam below the stubs, as httpx's
transport is: `channel(address)` returns what generated stubs call, so a
test or another kind of transport swaps it without touching the client.
The server asks the same transport for the server its servicers are added
to (grpc.aio's, or one of the same shape) and to listen, so both ends agree
on TLS, or on NATS. A node's `protocol` metadata names the transport its
address is for.

With TLS, a client verifies servers against `ca`, and presents `cert` (with
`key`) when it has one: mutual TLS. A server serves with `cert` and `key`,
and, when it has a `ca` too, accepts only clients whose certificates it signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import grpc.aio

from micro.config import ConfigError, Options

CHANNEL_OPTIONS = [
    # A node that comes back at the same address is tried again within a second.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class RpcServer(Protocol):
    """The part of `grpc.aio.Server` a `micro.server.Server` uses."""

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None: ...

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, Any]
    ) -> None: ...

    async def start(self) -> None: ...

    async def stop(self, grace: float | None) -> Any: ...


class Transport(Protocol):
    name: str
    """Short name used in messages and in a node's `protocol`, e.g. "grpc"."""

    def channel(self, address: str, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()) -> Any:
        """What generated stubs call, to the server at `address` (host:port for gRPC)."""
        ...

    def server(
        self, interceptors: Sequence[grpc.aio.ServerInterceptor], service: str, instance: str
    ) -> RpcServer:
        """A server for instance `instance` of `service`, running `interceptors`."""
        ...

    def listen(self, server: Any, address: str) -> str:
        """Make `server` (from `server()`) take calls at `address`; returns the
        address clients reach it at (for gRPC, host:port with the port bound)."""
        ...

    async def close(self) -> None:
        """Close what the transport holds open (channels are closed by their users)."""
        ...


@dataclass(frozen=True)
class Tls:
    """PEM bytes: the CA to verify the other end with, and this end's certificate."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a TLS certificate needs its key, and a key its certificate")


class GrpcTransport:
    """gRPC over TCP, in the clear or with TLS."""

    name = "grpc"

    def __init__(self, tls: Tls | None = None) -> None:
        self.tls = tls

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """What a client dials with; None in the clear."""
        if self.tls is None or self.tls.ca is None:
            return None
        return grpc.ssl_channel_credentials(self.tls.ca, self.tls.key, self.tls.cert)

    def channel(
        self, address: str, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> grpc.aio.Channel:
        credentials = self.channel_credentials()
        chain = list(interceptors) or None
        if credentials is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=chain)
        return grpc.aio.secure_channel(
            address, credentials, options=CHANNEL_OPTIONS, interceptors=chain
        )

    def server(
        self, interceptors: Sequence[grpc.aio.ServerInterceptor], service: str, instance: str
    ) -> grpc.aio.Server:
        return grpc.aio.server(interceptors=list(interceptors) or None)

    def listen(self, server: grpc.aio.Server, address: str) -> str:
        tls = self.tls
        try:
            if tls is None or tls.cert is None or tls.key is None:
                port = server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials(
                    [(tls.key, tls.cert)],
                    root_certificates=tls.ca,
                    require_client_auth=tls.ca is not None,
                )
                port = server.add_secure_port(address, credentials)
        except RuntimeError as e:
            raise OSError(f"gRPC server cannot listen on {address}: {e}") from e
        if port == 0:
            raise OSError(f"gRPC server cannot listen on {address} (address in use?)")
        return f"{address.rpartition(':')[0]}:{port}"

    async def close(self) -> None:
        """Nothing to close: each client closes its channels."""


def from_options(options: Options) -> GrpcTransport:
    """The "grpc" plugin: TLS when `MICRO_TLS_CA` or `MICRO_TLS_CERT` is set."""
    if options.tls_ca is None and options.tls_cert is None and options.tls_key is None:
        return GrpcTransport()
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ConfigError("MICRO_TLS_CERT and MICRO_TLS_KEY must be set together")
    return GrpcTransport(
        Tls(
            ca=_read("MICRO_TLS_CA", options.tls_ca),
            cert=_read("MICRO_TLS_CERT", options.tls_cert),
            key=_read("MICRO_TLS_KEY", options.tls_key),
        )
    )


def _read(variable: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{variable}={path!r}: cannot read it: {e.strerror}") from None
