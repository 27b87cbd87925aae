"""Tokens carry the user id and an expiry; anything else is UNAUTHENTICATED."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from micro.errors import Unauthenticated
from user_service.tokens import Tokens

SECRET = "a-secret-of-at-least-thirty-two-characters"
USER_ID = "0b6a8a3e-7f7c-4c1e-9d7e-2f1f3c1d2a10"


def tokens(
    secret: str = SECRET, issuer: str = "shippy.user", issued_at: datetime | None = None
) -> Tokens:
    clock = (lambda: issued_at) if issued_at else (lambda: datetime.now(UTC))
    return Tokens(secret, issuer, timedelta(hours=1), clock=clock)


def test_a_token_names_its_user_and_expiry() -> None:
    issued = tokens().issue(USER_ID)

    checked = tokens().validate(issued.value)

    assert checked.user_id == USER_ID
    assert checked.expires_at == issued.expires_at
    assert issued.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_a_token_holds_the_standard_claims() -> None:
    issued = tokens().issue(USER_ID)

    claims = jwt.decode(issued.value, SECRET, algorithms=["HS256"], issuer="shippy.user")

    assert set(claims) == {"sub", "iat", "exp", "iss"}
    assert claims["exp"] - claims["iat"] == 3600


def test_an_expired_token_is_refused() -> None:
    old = tokens(issued_at=datetime.now(UTC) - timedelta(hours=2)).issue(USER_ID)

    with pytest.raises(Unauthenticated, match=r"^token expired$"):
        tokens().validate(old.value)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = tokens(secret="another-secret-of-thirty-two-characters!").issue(USER_ID)

    with pytest.raises(Unauthenticated, match=r"^invalid token: bad signature$"):
        tokens().validate(forged.value)


def test_a_token_from_another_issuer_is_refused() -> None:
    foreign = tokens(issuer="someone.else").issue(USER_ID)

    with pytest.raises(Unauthenticated, match=r"^token was not issued by this service$"):
        tokens().validate(foreign.value)


def test_a_token_without_an_expiry_is_refused() -> None:
    endless = jwt.encode({"sub": USER_ID, "iat": 0, "iss": "shippy.user"}, SECRET)

    with pytest.raises(Unauthenticated, match=r'^invalid token: no "exp" claim$'):
        tokens().validate(endless)


def test_a_token_with_algorithm_none_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": USER_ID, "iat": 0, "exp": 2**31, "iss": "shippy.user"}, None, algorithm="none"
    )

    with pytest.raises(Unauthenticated, match=r"^invalid token$"):
        tokens().validate(unsigned)


@pytest.mark.parametrize("value", ["", "not-a-token", "a.b.c"])
def test_a_missing_or_malformed_token_is_refused(value: str) -> None:
    with pytest.raises(Unauthenticated):
        tokens().validate(value)
