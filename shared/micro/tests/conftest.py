"""Fixtures the core's tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from micro.registry.memory import MemoryRegistry


@pytest.fixture
async def registry() -> AsyncIterator[MemoryRegistry]:
    """A fresh in-memory registry, closed after the test."""
    registry = MemoryRegistry()
    yield registry
    await registry.close()


@pytest.fixture(scope="session")
def tls_files() -> Path:
    """The folder of the committed TLS test certificates: ca.pem, server.pem
    (localhost, 127.0.0.1), client.pem, each with its -key.pem, and other-ca.pem,
    a CA no test trusts, with other-client.pem (see tls/make-certificates.sh)."""
    return Path(__file__).with_name("tls")
