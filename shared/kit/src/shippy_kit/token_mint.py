"""Tokens made by tests: like user-service's, or spoiled in one chosen way.

    mint = TokenMint.new(tmp_path)                  # a key pair in tmp_path
    env = {"JWT_PUBLIC_KEYS_FILE": str(mint.public_keys_file), ...}
    mint.token("3f2a...", roles=["operator"])       # what user-service would issue
    mint.token("3f2a...", ttl=timedelta(days=3650)) # lives too long
    mint.token("3f2a...", claims={"sub": ""})       # a claim replaced (None removes it)
    mint.rotate()                                   # new key; the old one stays in the set

It signs with the key of its `private_key_file`, so a test of a running stack
can mint with the stack's key (`TokenMint(stack_private_key, stack_public_keys)`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from shippy_kit.eddsa import EdDSAJwt
from shippy_kit.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    key_id,
    new_key,
    read_private_key,
)


@dataclass(frozen=True)
class TokenMint:
    private_key_file: Path
    public_keys_file: Path

    @classmethod
    def new(cls, directory: Path) -> TokenMint:
        """A new key pair in `directory` (jwt-private.pem, jwt-public.json)."""
        mint = cls(directory / "jwt-private.pem", directory / "jwt-public.json")
        new_key(mint.private_key_file, mint.public_keys_file)
        return mint

    @property
    def private_key(self) -> SigningKey:
        return read_private_key(self.private_key_file)

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.verify_key)

    def rotate(self) -> str:
        """A new signing key, the previous one kept in the public set; the new kid."""
        return key_id(new_key(self.private_key_file, self.public_keys_file).verify_key)

    def token(
        self,
        subject: str,
        *,
        roles: Iterable[str] = (),
        ttl: timedelta = timedelta(hours=1),
        issued_at: datetime | None = None,
        claims: Mapping[str, Any] | None = None,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for `subject`, signed with this mint's key (or `key`); a
        claim or header given as None is left out."""
        issued = (issued_at or datetime.now(UTC)).replace(microsecond=0)
        payload: dict[str, Any] = {
            "sub": subject,
            "iss": DEFAULT_ISSUER,
            "aud": DEFAULT_AUDIENCE,
            "iat": issued,
            "exp": issued + ttl,
            "jti": uuid.uuid4().hex,
            "roles": list(roles),
        }
        for name, value in (claims or {}).items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        signing_key = key or self.private_key
        header = {"kid": key_id(signing_key.verify_key), **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        return EdDSAJwt().encode(payload, signing_key, headers=header)
