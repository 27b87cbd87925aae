"""The bearer token in call metadata, and what a handler may ask of the caller."""

from __future__ import annotations

import pytest
from micro.errors import Unauthenticated
from shippy_kit.auth import bearer_token, current_claims


@pytest.mark.parametrize(
    "metadata",
    [
        [("authorization", "Bearer abc.def.ghi")],
        [("authorization", "bearer abc.def.ghi")],
        [("x-request-id", "7"), ("authorization", "  Bearer   abc.def.ghi ")],
        [("authorization", b"Bearer abc.def.ghi")],
    ],
)
def test_the_token_is_what_follows_bearer(metadata: list[tuple[str, str | bytes]]) -> None:
    assert bearer_token(metadata) == "abc.def.ghi"


@pytest.mark.parametrize("metadata", [None, [], [("x-request-id", "7")]])
def test_no_authorization_metadata_is_unauthenticated(
    metadata: list[tuple[str, str]] | None,
) -> None:
    with pytest.raises(Unauthenticated, match="missing authorization metadata"):
        bearer_token(metadata)


@pytest.mark.parametrize(
    "value", ["abc.def.ghi", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b"]
)
def test_authorization_that_is_not_a_bearer_token_is_unauthenticated(value: str) -> None:
    with pytest.raises(Unauthenticated, match="authorization must be 'Bearer <token>'"):
        bearer_token([("authorization", value)])


def test_the_caller_is_known_only_inside_an_authenticated_call() -> None:
    with pytest.raises(RuntimeError, match="outside a call authenticated by TokenInterceptor"):
        current_claims()
