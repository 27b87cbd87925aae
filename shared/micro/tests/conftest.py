"""Fixtures the core's tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from micro.registry.memory import MemoryRegistry


@pytest.fixture
async def registry() -> AsyncIterator[MemoryRegistry]:
    """A fresh in-memory registry, closed after the test."""
    registry = MemoryRegistry()
    yield registry
    await registry.close()
