"""EdDSA JSON Web Tokens on PyNaCl's Ed25519 keys, through PyJWT's front door.

    jwts = EdDSAJwt()
    value = jwts.encode(claims, signing_key, headers={"kid": kid})
    claims = jwts.decode(value, verify_key, issuer=..., audience=..., leeway=..., require=...)

PyJWT signs EdDSA only with the `cryptography` package, whose import alone
costs every process that checks tokens about 12 MiB of resident memory.
PyNaCl (libsodium) is here anyway: nats-py's NKey logins need it. So EdDSA
(RFC 8037, Ed25519 only) is an `jwt.algorithms.Algorithm` of our own,
registered on a `jwt.PyJWS` of our own that knows no other algorithm, which
leaves PyJWT's module-level objects as they are. The claims are PyJWT's
(`jwt.PyJWT.decode`), checked once the signature has held.

The private key's file is PEM PKCS #8, as OpenSSL writes and reads it: for
Ed25519 (RFC 8410 §7) a DER of 16 fixed bytes, then the key's 32-byte seed.
Only that form is read.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, overload

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import InvalidKeyError
from jwt.types import JWKDict
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ALGORITHM = "EdDSA"
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
"""The DER of an Ed25519 private key in PKCS #8 before its seed (RFC 8410 §7):
a sequence of version 0, the algorithm id-Ed25519 and an octet string of
the octet string of the 32-byte seed."""
ED25519_OID = bytes.fromhex("06032b6570")
"""id-Ed25519 (1.3.101.112), DER-encoded."""
SEED_BYTES = 32
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----(.*?)-----END \1-----", re.DOTALL)


class Ed25519Algorithm(Algorithm):
    """EdDSA over Ed25519: signs with a `SigningKey`, verifies with a `VerifyKey`."""

    def prepare_key(self, key: Any) -> SigningKey | VerifyKey:
        if not isinstance(key, SigningKey | VerifyKey):
            raise InvalidKeyError(f"EdDSA needs a nacl.signing key, not {type(key).__name__}")
        return key

    def sign(self, msg: bytes, key: SigningKey | VerifyKey) -> bytes:
        if not isinstance(key, SigningKey):
            raise InvalidKeyError("EdDSA signs with a private key (nacl.signing.SigningKey)")
        return key.sign(msg).signature

    def verify(self, msg: bytes, key: SigningKey | VerifyKey, sig: bytes) -> bool:
        verify_key = key.verify_key if isinstance(key, SigningKey) else key
        try:
            verify_key.verify(msg, sig)
        except (BadSignatureError, ValueError):  # ValueError: not 64 bytes
            return False
        return True

    @overload
    @staticmethod
    def to_jwk(key_obj: VerifyKey, as_dict: Literal[True]) -> JWKDict: ...

    @overload
    @staticmethod
    def to_jwk(key_obj: VerifyKey, as_dict: Literal[False] = False) -> str: ...

    @staticmethod
    def to_jwk(key_obj: VerifyKey, as_dict: bool = False) -> JWKDict | str:
        """The public key as an OKP JWK (RFC 8037): kty, crv, x."""
        if not isinstance(key_obj, VerifyKey):
            raise InvalidKeyError("only a public key (nacl.signing.VerifyKey) becomes a JWK")
        jwk: JWKDict = {"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(key_obj))}
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: str | JWKDict) -> VerifyKey:
        """The public key of an OKP Ed25519 JWK; InvalidKeyError for any other."""
        entry = json.loads(jwk) if isinstance(jwk, str) else jwk
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            raise InvalidKeyError("not an Ed25519 key (kty OKP, crv Ed25519)")
        x = entry.get("x")
        if isinstance(x, str):
            with contextlib.suppress(ValueError):  # not base64url, or not 32 bytes
                return VerifyKey(_unb64url(x))
        raise InvalidKeyError(f'"x" must be the 32-byte public key in base64url, not {x!r}')


class EdDSAJwt:
    """Encodes and decodes JWTs signed with EdDSA, and no other algorithm."""

    def __init__(self) -> None:
        self._jws = jwt.PyJWS(algorithms=[])
        self._jws.register_algorithm(ALGORITHM, Ed25519Algorithm())
        self._claims = jwt.PyJWT()

    def encode(self, claims: Mapping[str, Any], key: SigningKey, headers: Mapping[str, Any]) -> str:
        """`claims` signed with `key`; datetimes become NumericDates, as
        `jwt.encode` makes them."""
        payload = {
            name: calendar.timegm(value.utctimetuple()) if isinstance(value, datetime) else value
            for name, value in claims.items()
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self._jws.encode(body, _any_key(key), algorithm=ALGORITHM, headers=dict(headers))

    def decode(
        self,
        value: str,
        key: VerifyKey,
        *,
        issuer: str,
        audience: str,
        leeway: timedelta,
        require: Sequence[str],
    ) -> dict[str, Any]:
        """The claims of a token `key` signed, checked as `jwt.decode` checks
        them (without `iat`); PyJWT's `InvalidTokenError`s otherwise."""
        self._jws.decode_complete(value, _any_key(key), algorithms=[ALGORITHM])
        claims: dict[str, Any] = self._claims.decode(
            value,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={
                # The signature has held just above, on this same text.
                "verify_signature": False,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": False,
                "verify_aud": True,
                "verify_iss": True,
                "verify_sub": True,
                "verify_jti": True,
                "require": list(require),
            },
        )
        return claims


def _any_key(key: SigningKey | VerifyKey) -> Any:
    """`key` for PyJWS, whose annotations name `cryptography`'s key types only:
    a registered algorithm takes the keys its `prepare_key` takes."""
    return key


def private_key_pem(key: SigningKey) -> str:
    """`key` as PEM PKCS #8, byte for byte as OpenSSL writes it."""
    body = base64.b64encode(PKCS8_PREFIX + bytes(key)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PRIVATE KEY-----", *lines, "-----END PRIVATE KEY-----", ""])


def private_key_from_pem(data: bytes) -> SigningKey:
    """The Ed25519 key of a PEM PKCS #8 file; ValueError saying why not."""
    block = _PEM.search(data)
    if block is None:
        raise ValueError("not a PEM private key")
    label, body = block.group(1).decode(), block.group(2)
    if label == "ENCRYPTED PRIVATE KEY":
        raise ValueError("the key is encrypted: it must not be")
    if label != "PRIVATE KEY":
        raise ValueError(f'not an Ed25519 private key (a PEM "{label}")')
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except ValueError:
        raise ValueError("not a PEM private key (its base64 is broken)") from None
    if der.startswith(PKCS8_PREFIX) and len(der) == len(PKCS8_PREFIX) + SEED_BYTES:
        return SigningKey(der[len(PKCS8_PREFIX) :])
    if ED25519_OID in der:
        raise ValueError(
            "an Ed25519 key, but not in the PKCS #8 form OpenSSL writes"
            " (RFC 8410 §7: 48 bytes, no public key, no attributes)"
        )
    raise ValueError("not an Ed25519 private key")


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE writes binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
