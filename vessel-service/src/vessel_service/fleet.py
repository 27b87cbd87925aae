"""The vessels every new deployment starts with.

Fixed ids make seeding idempotent: each start inserts only the ones missing.
"""

from __future__ import annotations

import uuid

from vessel_service.repository import Vessel

SEED_FLEET: tuple[Vessel, ...] = (
    Vessel(
        id=uuid.UUID("5f1c9a5e-0b6b-4f4e-9d0c-6c1f0a2b3c01"),
        name="Little Toot",
        capacity=50,
        max_weight=20_000,
    ),
    Vessel(
        id=uuid.UUID("5f1c9a5e-0b6b-4f4e-9d0c-6c1f0a2b3c02"),
        name="Boaty McBoatface",
        capacity=500,
        max_weight=200_000,
    ),
    Vessel(
        id=uuid.UUID("5f1c9a5e-0b6b-4f4e-9d0c-6c1f0a2b3c03"),
        name="Ever Given",
        capacity=20_000,
        max_weight=200_000_000,
    ),
)
