"""The tokens user-service issues: JSON Web Tokens signed with its Ed25519 key.

Header `alg: EdDSA` and `kid` (the key's thumbprint); claims exactly `sub`
(the user id), `iss`, `aud`, `iat`, `exp`, `jti` (random) and `roles` (the
user's roles, e.g. `["operator"]`). Only this service holds the private key;
every service checks tokens locally with the public keys
(`shippy_kit.tokens.TokenVerifier`), and so does `validate` here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey
from shippy_kit.eddsa import EdDSAJwt
from shippy_kit.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    Claims,
    TokenVerifier,
    key_id,
)


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    user_id: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Tokens:
    """Issues tokens with `private_key` and checks them with `verifier`.
    `clock` is for tests that need an old token."""

    def __init__(
        self,
        private_key: SigningKey,
        verifier: TokenVerifier,
        *,
        ttl: timedelta,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._private_key = private_key
        self.key_id = key_id(private_key.verify_key)
        """The `kid` of every token issued here."""
        self.verifier = verifier
        self._ttl = ttl
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._jwt = EdDSAJwt()

    def issue(self, user_id: str, roles: Iterable[str] = ()) -> Token:
        issued_at = self._clock().replace(microsecond=0)  # JWT times are whole seconds
        expires_at = issued_at + self._ttl
        claims = {
            "sub": user_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": issued_at,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
            "roles": sorted(set(roles)),
        }
        value = self._jwt.encode(claims, self._private_key, headers={"kid": self.key_id})
        return Token(value=value, user_id=user_id, expires_at=expires_at)

    def validate(self, value: str) -> Claims:
        """The token's claims, or `Unauthenticated` saying what is wrong."""
        return self.verifier.verify(value)
