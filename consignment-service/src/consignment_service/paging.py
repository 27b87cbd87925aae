"""Pages of GetConsignments: their size, and the token that leads to the next.

A page token is where the last page ended, (created_at, id) of its last
consignment, in URL-safe base64: the next page starts strictly after it in
the newest-first order, so consignments created meanwhile never shift a page.
It names only the caller's own rows, so a made-up one reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import NamedTuple

from micro.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE_BYTES = 2 * 1024 * 1024
"""A page ends before its reply would pass this (gRPC's limit is 4 MiB)."""


class PageKey(NamedTuple):
    created_at: datetime
    id: uuid.UUID


def page_size(requested: int) -> int:
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be from 1 to {MAX_PAGE_SIZE} (got {requested})")
    return requested


def encode(key: PageKey) -> str:
    raw = f"{key.created_at.isoformat()}|{key.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> PageKey | None:
    """The key a token stands for; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created_at, _, id = raw.partition("|")
        return PageKey(datetime.fromisoformat(created_at), uuid.UUID(id))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("page_token", "is not a token this service gave") from None
