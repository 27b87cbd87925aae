"""Tokens are checked locally with the public keys: only a token user-service's
key signed, with exactly its claims, unexpired and not too long-lived, passes."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from micro.config import ConfigError
from micro.errors import Unauthenticated
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import (
    TokenSettings,
    TokenVerifier,
    kept_key_pair,
    key_id,
    main,
    read_key_set,
)

USER_ID = "0b6a8a3e-7f7c-4c1e-9d7e-2f1f3c1d2a10"


@pytest.fixture
def mint(tmp_path: Path) -> TokenMint:
    return TokenMint.new(tmp_path)


@pytest.fixture
def verifier(mint: TokenMint) -> TokenVerifier:
    return TokenVerifier(mint.public_keys_file)


def test_a_token_of_the_key_passes_with_its_subject_and_roles(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    claims = verifier.verify(mint.token(USER_ID, roles=["operator"]))

    assert claims.subject == USER_ID
    assert claims.roles == {"operator"}
    assert claims.has_role("operator", "admin")
    assert not claims.has_role("admin")
    assert claims.expires_at - claims.issued_at == timedelta(hours=1)
    assert claims.token_id


def bad_signature(mint: TokenMint) -> str:
    other = Ed25519PrivateKey.generate()
    return mint.token(USER_ID, key=other, headers={"kid": mint.key_id})


def hs256_with_the_public_key(mint: TokenMint) -> str:
    """The classic confusion: the public key used as an HMAC secret."""
    public = json.loads(mint.public_keys_file.read_text())["keys"][0]["x"]
    header = {"kid": mint.key_id}
    return jwt.encode({"sub": USER_ID}, public, algorithm="HS256", headers=header)


def unsigned(mint: TokenMint) -> str:
    return jwt.encode({"sub": USER_ID}, None, algorithm="none", headers={"kid": mint.key_id})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: m.token(USER_ID, claims={"sub": ""}), "invalid token: no subject"),
        (lambda m: m.token(USER_ID, ttl=timedelta(days=3650)), "lives longer than allowed"),
        (lambda m: m.token(USER_ID, ttl=timedelta(minutes=-5)), "token expired"),
        (
            lambda m: m.token(USER_ID, issued_at=datetime.now(UTC) + timedelta(hours=1)),
            "issued in the future",
        ),
        (lambda m: m.token(USER_ID, claims={"iss": "someone.else"}), "not issued by user-service"),
        (lambda m: m.token(USER_ID, claims={"aud": "another.system"}), "wrong audience"),
        (lambda m: m.token(USER_ID, claims={"exp": None}), 'no "exp" claim'),
        (lambda m: m.token(USER_ID, claims={"jti": None}), 'no "jti" claim'),
        (lambda m: m.token(USER_ID, claims={"roles": "admin"}), "roles must be a list"),
        (lambda m: m.token(USER_ID, claims={"admin": True}), 'unexpected claim "admin"'),
        (lambda m: m.token(USER_ID, headers={"kid": "somebody-elses"}), "unknown key"),
        (lambda m: m.token(USER_ID, headers={"kid": None}), 'no "kid" header'),
        (bad_signature, "bad signature"),
        (hs256_with_the_public_key, "algorithm must be EdDSA"),
        (unsigned, "algorithm must be EdDSA"),
        (lambda m: "not-a-token", "invalid token"),
        (lambda m: "", "token is missing"),
    ],
)
def test_anything_else_is_unauthenticated_saying_why(
    mint: TokenMint, verifier: TokenVerifier, make: object, message: str
) -> None:
    value = make(mint)  # type: ignore[operator]

    with pytest.raises(Unauthenticated, match=message):
        verifier.verify(value)


def test_the_leeway_forgives_a_little_clock_difference(mint: TokenMint) -> None:
    just_expired = mint.token(USER_ID, ttl=timedelta(seconds=-5))
    strict = TokenVerifier(mint.public_keys_file, leeway=timedelta(0))
    lenient = TokenVerifier(mint.public_keys_file, leeway=timedelta(seconds=30))

    with pytest.raises(Unauthenticated, match="token expired"):
        strict.verify(just_expired)
    assert lenient.verify(just_expired).subject == USER_ID


def test_after_a_rotation_old_tokens_pass_and_new_ones_carry_the_new_kid(
    mint: TokenMint,
) -> None:
    old_kid = mint.key_id
    old_token = mint.token(USER_ID)
    verifier = TokenVerifier(mint.public_keys_file)

    new_kid = mint.rotate()
    new_token = mint.token(USER_ID)

    assert new_kid != old_kid
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert list(read_key_set(mint.public_keys_file)) == [new_kid, old_kid]
    assert verifier.verify(old_token).subject == USER_ID
    assert verifier.verify(new_token).subject == USER_ID  # the set is read again


def test_a_second_rotation_drops_the_oldest_key(mint: TokenMint) -> None:
    oldest = mint.token(USER_ID)
    mint.rotate()
    mint.rotate()

    with pytest.raises(Unauthenticated, match="unknown key"):
        TokenVerifier(mint.public_keys_file).verify(oldest)


def test_the_kid_is_the_keys_thumbprint(mint: TokenMint) -> None:
    document = json.loads(mint.public_keys_file.read_text())

    (entry,) = document["keys"]
    assert entry["kid"] == key_id(mint.private_key.public_key())
    assert (entry["kty"], entry["crv"], entry["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in entry  # no private part


def test_the_private_key_is_private_and_the_key_set_is_public(mint: TokenMint) -> None:
    assert stat.S_IMODE(mint.private_key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(mint.public_keys_file.stat().st_mode) == 0o644


def test_a_kept_key_pair_is_made_once_then_reused(tmp_path: Path) -> None:
    private, public = tmp_path / "jwt-private.pem", tmp_path / "jwt-public.json"

    assert kept_key_pair(private, public) is True
    first = private.read_bytes()
    assert kept_key_pair(private, public) is False
    assert private.read_bytes() == first


def test_the_command_line_rotates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "keys.json"
    main(["new-key", "--private-key", str(private), "--public-keys", str(public)])
    main(["new-key", "--private-key", str(private), "--public-keys", str(public)])

    assert len(read_key_set(public)) == 2
    assert capsys.readouterr().out.count("new signing key") == 2


def test_settings_come_from_the_environment(mint: TokenMint) -> None:
    settings = TokenSettings.from_env(
        {
            "JWT_PUBLIC_KEYS_FILE": str(mint.public_keys_file),
            "JWT_AUDIENCE": "shippy.test",
            "JWT_LEEWAY": "5",
            "JWT_MAX_TTL": "600",
        }
    )

    assert settings.public_keys_file == mint.public_keys_file
    assert (settings.issuer, settings.audience) == ("shippy.user", "shippy.test")
    assert (settings.leeway, settings.max_ttl) == (5, 600)
    with pytest.raises(Unauthenticated, match="lives longer"):
        settings.verifier().verify(mint.token(USER_ID, claims={"aud": "shippy.test"}))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, r"^JWT_PUBLIC_KEYS_FILE is required: the JWKS file"),
        ({"JWT_PUBLIC_KEYS_FILE": "k", "JWT_LEEWAY": "3600"}, "JWT_LEEWAY='3600': must be from"),
        ({"JWT_PUBLIC_KEYS_FILE": "k", "JWT_MAX_TTL": "0"}, "JWT_MAX_TTL='0': must be at least"),
    ],
)
def test_a_bad_setting_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenSettings.from_env(env)


@pytest.mark.parametrize("content", [None, "{}", '{"keys": []}', "not json"])
def test_an_unusable_key_file_names_the_variable(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ConfigError, match=rf"^JWT_PUBLIC_KEYS_FILE={path}: "):
        TokenSettings(public_keys_file=path).verifier()


class Clock:
    """A clock the test moves on."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_token_checked_again_comes_from_the_cache_until_it_expires(mint: TokenMint) -> None:
    clock = Clock()
    verifier = TokenVerifier(mint.public_keys_file, leeway=timedelta(seconds=30), clock=clock)
    token = mint.token(USER_ID, ttl=timedelta(minutes=5))
    first = verifier.verify(token)

    clock.now = first.expires_at + timedelta(seconds=29)  # within the leeway
    assert verifier.verify(token) is first  # no second verification
    clock.now = first.expires_at + timedelta(seconds=30)
    with pytest.raises(Unauthenticated, match="token expired"):
        verifier.verify(token)


def test_only_the_exact_token_that_passed_is_taken_from_the_cache(mint: TokenMint) -> None:
    verifier = TokenVerifier(mint.public_keys_file)
    token = mint.token(USER_ID)
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged = mint.token(USER_ID, key=Ed25519PrivateKey.generate(), headers={"kid": mint.key_id})

    with pytest.raises(Unauthenticated, match="bad signature"):
        verifier.verify(f"{header}.{forged.split('.')[1]}.{signature}")  # another payload
    with pytest.raises(Unauthenticated, match="invalid token"):
        verifier.verify(f"{header}.{payload}.{signature[:-2]}")
    with pytest.raises(Unauthenticated, match="bad signature"):
        verifier.verify(forged)
    with pytest.raises(Unauthenticated, match="bad signature"):
        verifier.verify(forged)  # a token that failed is not remembered either


def test_a_cached_token_of_a_dropped_key_is_refused(mint: TokenMint) -> None:
    verifier = TokenVerifier(mint.public_keys_file)
    oldest = mint.token(USER_ID)
    verifier.verify(oldest)
    mint.rotate()
    mint.rotate()
    verifier.verify(mint.token(USER_ID))  # names a new kid: the set is read again

    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.verify(oldest)


def test_the_cache_is_bounded(mint: TokenMint) -> None:
    verifier = TokenVerifier(mint.public_keys_file, cache_size=2)
    tokens = [mint.token(USER_ID) for _ in range(3)]
    claims = [verifier.verify(token) for token in tokens]

    assert verifier.verify(tokens[2]) is claims[2]  # still remembered
    assert verifier.verify(tokens[1]) is claims[1]
    again = verifier.verify(tokens[0])  # forgotten: verified anew
    assert again == claims[0]
    assert again is not claims[0]
