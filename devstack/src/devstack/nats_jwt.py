"""NATS's decentralized authentication in small, for tests of creds files:
an operator, one account it signs and one user the account signs, as
`nsc` would make them, and the nats-server config that trusts the operator.

    trust = Decentralized.new()
    NatsServer(..., authorization=trust.server_config())
    trust.write_creds(path)                     # what NATS_CREDS names

A NATS JWT is an ordinary JWT with the algorithm "ed25519-nkey": signed with
the issuer's NKey, its `iss` and `sub` are NKey public keys, and its `jti`
is the base32 SHA-256 of the claims (nats-io/jwt v2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]

UNLIMITED = -1


@dataclass(frozen=True)
class Decentralized:
    operator: Any
    account: Any
    user: Any

    @classmethod
    def new(cls) -> Decentralized:
        return cls(
            _key_pair(nkeys.PREFIX_BYTE_OPERATOR),
            _key_pair(nkeys.PREFIX_BYTE_ACCOUNT),
            _key_pair(nkeys.PREFIX_BYTE_USER),
        )

    def server_config(self) -> str:
        """nats-server settings that trust the operator and know its account."""
        operator = _jwt(self.operator, self.operator, "operator", {"type": "operator"})
        limits = {
            key: UNLIMITED for key in ("subs", "data", "payload", "imports", "exports", "conn")
        }
        account = _jwt(
            self.operator,
            self.account,
            "account",
            {"type": "account", "limits": {**limits, "wildcards": True}},
        )
        return (
            f"operator: {operator}\n"
            "resolver: MEMORY\n"
            f"resolver_preload: {{ {_public(self.account)}: {account} }}"
        )

    def write_creds(self, path: Path) -> Path:
        """The user's creds file (its JWT and seed), mode 0600."""
        user = _jwt(
            self.account,
            self.user,
            "user",
            {
                "type": "user",
                "pub": {},
                "sub": {},
                **dict.fromkeys(("subs", "data", "payload"), UNLIMITED),
            },
        )
        path.write_text(
            f"-----BEGIN NATS USER JWT-----\n{user}\n------END NATS USER JWT------\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{self.user.seed.decode()}\n"
            "------END USER NKEY SEED------\n"
        )
        path.chmod(0o600)
        return path


def _key_pair(prefix: int) -> Any:
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


def _public(key_pair: Any) -> str:
    return str(key_pair.public_key.decode())


def _jwt(issuer: Any, subject: Any, name: str, nats: dict[str, Any]) -> str:
    claims = {
        "iat": int(time.time()),
        "iss": _public(issuer),
        "name": name,
        "sub": _public(subject),
        "nats": {**nats, "version": 2},
    }
    digest = hashlib.sha256(json.dumps(claims).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    signed = f"{header}.{_b64(json.dumps(claims).encode())}"
    return f"{signed}.{_b64(issuer.sign(signed.encode()))}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
