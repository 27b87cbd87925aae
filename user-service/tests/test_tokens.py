"""The tokens user-service issues: EdDSA with the key's kid, exactly the agreed
claims, and checked with the public keys only."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from micro.errors import Unauthenticated
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import TokenVerifier, read_private_key
from user_service.tokens import Tokens

USER_ID = "0b6a8a3e-7f7c-4c1e-9d7e-2f1f3c1d2a10"


def tokens(mint: TokenMint, issued_at: datetime | None = None) -> Tokens:
    clock = (lambda: issued_at) if issued_at else (lambda: datetime.now(UTC))
    return Tokens(
        read_private_key(mint.private_key_file),
        TokenVerifier(mint.public_keys_file),
        ttl=timedelta(hours=1),
        clock=clock,
    )


@pytest.fixture
def mint(tmp_path: Path) -> TokenMint:
    return TokenMint.new(tmp_path)


def test_a_token_names_its_user_roles_and_expiry(mint: TokenMint) -> None:
    issued = tokens(mint).issue(USER_ID, ["operator"])

    checked = tokens(mint).validate(issued.value)

    assert checked.subject == USER_ID
    assert checked.roles == {"operator"}
    assert checked.expires_at == issued.expires_at
    assert issued.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_a_token_holds_exactly_the_agreed_claims_and_is_eddsa_with_a_kid(
    mint: TokenMint,
) -> None:
    issued = tokens(mint).issue(USER_ID)

    header = jwt.get_unverified_header(issued.value)
    claims = jwt.decode(issued.value, options={"verify_signature": False})

    assert (header["alg"], header["kid"]) == ("EdDSA", mint.key_id)
    assert set(claims) == {"sub", "iss", "aud", "iat", "exp", "jti", "roles"}
    assert (claims["iss"], claims["aud"], claims["roles"]) == ("shippy.user", "shippy", [])
    assert claims["exp"] - claims["iat"] == 3600


def test_every_token_has_its_own_id(mint: TokenMint) -> None:
    first, second = (tokens(mint).issue(USER_ID).value for _ in range(2))

    ids = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in (first, second)}

    assert len(ids) == 2


def test_an_expired_token_is_refused(mint: TokenMint) -> None:
    old = tokens(mint, issued_at=datetime.now(UTC) - timedelta(hours=2)).issue(USER_ID)

    with pytest.raises(Unauthenticated, match=r"^token expired$"):
        tokens(mint).validate(old.value)


def test_a_token_signed_with_another_key_is_refused(mint: TokenMint, tmp_path: Path) -> None:
    other = TokenMint.new(tmp_path / "other")
    forged = tokens(other).issue(USER_ID)

    with pytest.raises(Unauthenticated, match="signed with an unknown key"):
        tokens(mint).validate(forged.value)


def test_after_a_rotation_new_tokens_carry_the_new_kid_and_old_ones_still_pass(
    mint: TokenMint,
) -> None:
    before = tokens(mint)
    old = before.issue(USER_ID)

    new_kid = mint.rotate()
    after = tokens(mint)  # the service's next start reads the new key
    new = after.issue(USER_ID)

    assert after.key_id == new_kid != before.key_id
    assert jwt.get_unverified_header(new.value)["kid"] == new_kid
    assert after.validate(old.value).subject == USER_ID
    assert before.validate(new.value).subject == USER_ID  # the old verifier reads the set again
