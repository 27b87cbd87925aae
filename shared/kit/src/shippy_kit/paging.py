"""Pages of a list RPC (GetAll, GetConsignments): their size, and the token
that leads to the next.

A page token is where the last page ended, (created_at, id) of its last
row, in URL-safe base64: the next page starts strictly after it in the
list's order, so rows created meanwhile never shift a page. A made-up token
only moves where a caller's own listing starts, so it reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple, TypeVar

from google.protobuf.message import Message
from micro.errors import InvalidArgument

R = TypeVar("R")
M = TypeVar("M", bound=Message)

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


def fill(
    rows: Sequence[R], size: int, to_message: Callable[[R], M], key: Callable[[R], PageKey]
) -> tuple[list[M], str]:
    """The messages of one page from `rows` (fetched with `size + 1` as the
    limit), and the next page's token ("" on the last page). The page ends
    early, after at least one row, before it would pass MAX_PAGE_BYTES."""
    messages: list[M] = []
    budget = MAX_PAGE_BYTES
    for row in rows[:size]:
        message = to_message(row)
        budget -= message.ByteSize() + 8  # the field's tag and length
        if budget < 0 and messages:
            break
        messages.append(message)
    more = len(rows) > len(messages)
    return messages, encode(key(rows[len(messages) - 1])) if more else ""
