"""Fixtures for vessel-service tests: a real PostgreSQL database per test
(`database_url`, from devstack) and the parts built on it."""

import pytest
from shippy_kit.postgres import Pool
from vessel_service.repository import VesselRepository


@pytest.fixture
async def repository(database_pool: Pool) -> VesselRepository:
    repository = VesselRepository(database_pool)
    await repository.create_schema()
    return repository
