"""Tokens are checked locally with the public keys: only a token user-service's
key signed, with exactly its claims, unexpired and not too long-lived, passes."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from micro.config import ConfigError
from micro.errors import Unauthenticated
from nacl.signing import SigningKey
from shippy_kit.eddsa import EdDSAJwt
from shippy_kit.token_mint import TokenMint
from shippy_kit.tokens import (
    TokenSettings,
    TokenVerifier,
    kept_key_pair,
    key_id,
    main,
    read_key_set,
    read_private_key,
    write_key_set,
    write_private_key,
)

USER_ID = "0b6a8a3e-7f7c-4c1e-9d7e-2f1f3c1d2a10"
FIXTURES = Path(__file__).with_name("fixtures")
KNOWN_KID = "EeF_keLDFiD9k2ZtT42Esheb1gFGnw-MKowVLrnnn-Y"
"""The kid of fixtures/ed25519-private.pem, as the code on `cryptography` made it."""


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
    other = SigningKey.generate()
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
    assert entry["kid"] == key_id(mint.private_key.verify_key)
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


@pytest.mark.parametrize(
    "content",
    [
        None,
        "{}",
        '{"keys": []}',
        "not json",
        '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ"}]}',
        '{"keys": [{"kty": "OKP", "crv": "Ed25519"}]}',
    ],
)
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
    forged = mint.token(USER_ID, key=SigningKey.generate(), headers={"kid": mint.key_id})

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


# Key files: the same as before, and as OpenSSL's.


def test_a_key_made_before_has_the_same_kid_and_key_set_and_is_written_back_the_same(
    tmp_path: Path,
) -> None:
    key = read_private_key(FIXTURES / "ed25519-private.pem")
    write_private_key(tmp_path / "key.pem", key)
    write_key_set(tmp_path / "keys.json", [key.verify_key])

    assert key_id(key.verify_key) == KNOWN_KID
    assert (tmp_path / "key.pem").read_bytes() == (FIXTURES / "ed25519-private.pem").read_bytes()
    assert (tmp_path / "keys.json").read_text() == (FIXTURES / "ed25519-public.json").read_text()


def test_a_token_made_before_passes_and_is_signed_the_same_today() -> None:
    before = (FIXTURES / "ed25519-token.jwt").read_text().strip()
    verifier = TokenVerifier(FIXTURES / "ed25519-public.json", max_ttl=timedelta(days=36500))
    claims = jwt.decode(before, options={"verify_signature": False})
    key = read_private_key(FIXTURES / "ed25519-private.pem")

    passed = verifier.verify(before)
    today = EdDSAJwt().encode(claims, key, headers={"kid": KNOWN_KID})

    assert (passed.subject, passed.roles) == (USER_ID, {"operator"})
    assert today == before  # Ed25519 signatures are deterministic


def test_only_a_private_key_signs() -> None:
    key = read_private_key(FIXTURES / "ed25519-private.pem")

    with pytest.raises(jwt.InvalidKeyError, match="signs with a private key"):
        EdDSAJwt().encode({"sub": USER_ID}, key.verify_key, headers={})  # type: ignore[arg-type]


def test_a_key_openssl_made_is_read() -> None:
    key = read_private_key(FIXTURES / "openssl-ed25519-private.pem")

    assert bytes(key.verify_key).hex() == (
        "271039bad08b8b1287f25c2ca101914c1ede5d99def562c6b8f6be105150797d"
    )


def pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


SEED = bytes(range(32))
WITH_PUBLIC_KEY = (  # RFC 8410's version 2 form: the public key after the seed
    bytes.fromhex("3051020101300506032b657004220420")
    + SEED
    + bytes.fromhex("812100")
    + bytes(SigningKey(SEED).verify_key)
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a PEM private key"),
        ("hello", "not a PEM private key"),
        (pem("PUBLIC KEY", b"0"), "not a PEM private key"),
        (pem("ENCRYPTED PRIVATE KEY", b"0"), "the key is encrypted: it must not be"),
        (pem("RSA PRIVATE KEY", b"0"), re.escape('not an Ed25519 private key (a PEM "RSA')),
        (
            "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
            "its base64 is broken",
        ),
        ((FIXTURES / "p256-private.pem").read_text(), "^not an Ed25519 private key$"),
        (pem("PRIVATE KEY", WITH_PUBLIC_KEY), "not in the PKCS #8 form OpenSSL writes"),
        (
            pem("PRIVATE KEY", bytes.fromhex("302e020100300506032b657004220420") + SEED[:31]),
            "not in the PKCS #8 form OpenSSL writes",
        ),
    ],
)
def test_a_private_key_file_of_another_kind_is_refused_saying_why(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "key.pem"
    path.write_text(content)

    with pytest.raises(ValueError, match=message):
        read_private_key(path)


def test_checking_a_token_loads_no_cryptography_package() -> None:
    """PyJWT imports `cryptography` (+12 MiB resident) whenever it is installed."""
    check = f"""
import sys
from datetime import timedelta
from pathlib import Path
from shippy_kit.tokens import TokenVerifier

fixtures = Path({str(FIXTURES)!r})
verifier = TokenVerifier(fixtures / "ed25519-public.json", max_ttl=timedelta(days=36500))
claims = verifier.verify((fixtures / "ed25519-token.jwt").read_text().strip())
print(claims.subject, "cryptography" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )

    assert result.stdout.split() == [USER_ID, "False"]
