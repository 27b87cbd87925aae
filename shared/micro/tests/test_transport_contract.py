"""The transport contract, on gRPC and on NATS (a real nats-server)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from micro.nats_transport import NatsTransport
from micro.testing import TransportContract
from micro.transport import GrpcTransport, Transport


class TestGrpcTransport(TransportContract):
    @pytest.fixture
    def new_transport(self) -> Callable[[], Transport]:
        return GrpcTransport


class TestNatsTransport(TransportContract):
    @pytest.fixture
    def new_transport(self, nats_url: str) -> Callable[[], Transport]:
        return lambda: NatsTransport(nats_url)
