"""Ed25519-signed JSON Web Tokens: the claims, the key files, the local check.

    settings = TokenSettings.from_env()            # JWT_PUBLIC_KEYS_FILE, JWT_AUDIENCE, ...
    verifier = settings.verifier()                 # reads the public keys
    claims = verifier.verify(token)                # or Unauthenticated, saying why
    claims.subject, claims.roles                   # "3f2a...", frozenset({"operator"})

user-service alone holds the private key and signs (`user_service.tokens`);
every service that takes tokens checks them here, with the public keys of a
JWKS file (RFC 7517: `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": ..., "x": ...}]}`),
the current key first and the previous one after it. No call leaves the
process, so nothing a node in the registry answers can make a token pass.

A token is accepted only if: its header says `alg: EdDSA` and names a `kid`
of the set; the signature holds; it has exactly the claims `sub` (not empty),
`iss`, `aud`, `iat`, `exp`, `jti` and `roles` (a list of role names); `iss`
and `aud` are the expected ones; it is not expired and not issued in the
future (both give `leeway`); and it lives no longer than `max_ttl`.

A token that passed is remembered (the last `CACHED_TOKENS` of them, by
their exact text), so that checking it again costs a look-up, not an
Ed25519 verification (about 150 µs): on each hit its expiry is checked again,
with the leeway, and its key must still be in the set. Only a token that
passed every check above is remembered, so no other text can be taken for it.

| variable               | meaning                                                   | default       |
|------------------------|-----------------------------------------------------------|---------------|
| `JWT_PUBLIC_KEYS_FILE` | JWKS file with user-service's public keys                 | required      |
| `JWT_ISSUER`           | `iss` a token must have                                   | `shippy.user` |
| `JWT_AUDIENCE`         | `aud` a token must have                                   | `shippy`      |
| `JWT_LEEWAY`           | seconds of clock difference allowed on `exp` and `iat`    | `30` (0-300)  |
| `JWT_MAX_TTL`          | seconds a token may live (`exp - iat`), longer ones fail  | `86400`       |

Key rotation: `python -m shippy_kit.tokens new-key --private-key PEM --public-keys JWKS`
writes a new private key and a key set of the new public key and the one it
replaces. The verifiers read the set again when a token names a key they do
not know and the file has changed; user-service signs with the new key from
its next start. Tokens of the previous key stay valid until they expire.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Self

import jwt
from jwt.exceptions import InvalidKeyError
from micro.config import ConfigError, whole_number
from micro.errors import Unauthenticated
from nacl.signing import SigningKey, VerifyKey

from shippy_kit.eddsa import (
    ALGORITHM,
    Ed25519Algorithm,
    EdDSAJwt,
    b64url,
    private_key_from_pem,
    private_key_pem,
)

CLAIMS = frozenset({"sub", "iss", "aud", "iat", "exp", "jti", "roles"})
"""Every token has these claims and no others."""
ADMIN = "admin"
"""May list and read every user, and create vessels."""
OPERATOR = "operator"
"""May create vessels."""
ROLES = (ADMIN, OPERATOR)
DEFAULT_ISSUER = "shippy.user"
DEFAULT_AUDIENCE = "shippy"
DEFAULT_LEEWAY = 30
MAX_LEEWAY = 300
DEFAULT_MAX_TTL = 86_400
PUBLIC_KEYS_VARIABLE = "JWT_PUBLIC_KEYS_FILE"
KEPT_KEYS = 2
"""A key set holds the current key and the previous one."""
CACHED_TOKENS = 1024
"""Tokens a verifier remembers as passed: a few hundred bytes each."""


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    subject: str
    """The user's id (`sub`)."""
    roles: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    token_id: str
    """`jti`: unique per token."""

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


def _now() -> datetime:
    return datetime.now(UTC)


class TokenVerifier:
    """Checks tokens against a set of public keys, by `kid`."""

    def __init__(
        self,
        keys: Mapping[str, VerifyKey] | Path,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway: timedelta = timedelta(seconds=DEFAULT_LEEWAY),
        max_ttl: timedelta = timedelta(seconds=DEFAULT_MAX_TTL),
        clock: Callable[[], datetime] = _now,
        cache_size: int = CACHED_TOKENS,
    ) -> None:
        """`keys`: the public keys by kid, or a JWKS file (read now, and again
        when a token names an unknown kid and the file has changed since).
        `cache_size`: how many tokens that passed it remembers (0: none)."""
        self._file: Path | None = None
        self._file_stamp: tuple[float, int] | None = None
        self._keys: dict[str, VerifyKey] = {}
        if isinstance(keys, Path):
            self._file = keys
            self._reload()
        else:
            self._keys = dict(keys)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._max_ttl = max_ttl
        self._clock = clock
        self._cache_size = cache_size
        self._passed: dict[str, _Passed] = {}  # oldest first
        self._jwt = EdDSAJwt()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def verify(self, value: str) -> Claims:
        """The token's claims, or `Unauthenticated` saying what is wrong."""
        if not value:
            raise Unauthenticated("token is missing")
        passed = self._passed.get(value)
        if passed is not None:
            return self._still_valid(value, passed)
        kid, key = self._key_for(value)
        try:
            claims = self._jwt.decode(
                value,
                key,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                require=sorted(CLAIMS),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token was not issued by user-service") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token is not meant for Shippy (wrong audience)") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f'invalid token: no "{error.claim}" claim') from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("invalid token: bad signature") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token") from None
        checked = self._checked(claims)
        self._remember(value, _Passed(checked, kid))
        return checked

    def _still_valid(self, value: str, passed: _Passed) -> Claims:
        """A remembered token's claims, if it has not expired since and its key is kept."""
        if passed.kid not in self._keys:  # a kid is its key's thumbprint
            del self._passed[value]
            raise Unauthenticated("invalid token: signed with an unknown key")
        if self._clock() >= passed.claims.expires_at + self._leeway:
            del self._passed[value]
            raise Unauthenticated("token expired")
        return passed.claims

    def _remember(self, value: str, passed: _Passed) -> None:
        if self._cache_size <= 0:
            return
        if len(self._passed) >= self._cache_size:
            del self._passed[next(iter(self._passed))]
        self._passed[value] = passed

    def _key_for(self, value: str) -> tuple[str, VerifyKey]:
        try:
            header = jwt.get_unverified_header(value)
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"invalid token: algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated('invalid token: no "kid" header')
        if kid not in self._keys and self._file is not None and self._file_changed():
            self._reload()
        try:
            return kid, self._keys[kid]
        except KeyError:
            raise Unauthenticated("invalid token: signed with an unknown key") from None

    def _checked(self, claims: Mapping[str, Any]) -> Claims:
        unexpected = set(claims) - CLAIMS
        if unexpected:
            raise Unauthenticated(f'invalid token: unexpected claim "{sorted(unexpected)[0]}"')
        subject, token_id, roles = claims["sub"], claims["jti"], claims["roles"]
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("invalid token: no subject")
        if not isinstance(token_id, str) or not token_id:
            raise Unauthenticated("invalid token: no token id")
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise Unauthenticated("invalid token: roles must be a list of names")
        issued_at, expires_at = claims["iat"], claims["exp"]
        if not isinstance(issued_at, int | float):
            raise Unauthenticated("invalid token: iat must be a number")
        issued = datetime.fromtimestamp(issued_at, UTC)
        expires = datetime.fromtimestamp(expires_at, UTC)
        if issued > self._clock() + self._leeway:
            raise Unauthenticated("invalid token: issued in the future")
        if expires - issued > self._max_ttl:
            raise Unauthenticated("invalid token: lives longer than allowed")
        return Claims(subject, frozenset(roles), issued, expires, token_id)

    def _file_changed(self) -> bool:
        assert self._file is not None
        try:
            return _stamp(self._file) != self._file_stamp
        except OSError:
            return False

    def _reload(self) -> None:
        assert self._file is not None
        stamp = _stamp(self._file)
        self._keys = read_key_set(self._file)
        self._file_stamp = stamp


class _Passed(NamedTuple):
    """A token that passed: what it says, and the id of the key that signed it."""

    claims: Claims
    kid: str


def _stamp(path: Path) -> tuple[float, int]:
    status = path.stat()
    return status.st_mtime, status.st_size


@dataclass(frozen=True)
class TokenSettings:
    """How a service checks tokens, from its environment (the table above)."""

    public_keys_file: Path | None = field(default=None)
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    leeway: int = DEFAULT_LEEWAY
    max_ttl: int = DEFAULT_MAX_TTL

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, public_keys_required: bool = True
    ) -> Self:
        """`public_keys_required=False` for user-service, which knows its own key."""
        env = os.environ if env is None else env
        raw = env.get(PUBLIC_KEYS_VARIABLE, "").strip()
        if not raw and public_keys_required:
            raise ConfigError(
                f"{PUBLIC_KEYS_VARIABLE} is required: the JWKS file of user-service's"
                " public keys (`make run` makes one in var/; see docs/configuration.md)"
            )
        return cls(
            public_keys_file=Path(raw) if raw else None,
            issuer=env.get("JWT_ISSUER", "").strip() or cls.issuer,
            audience=env.get("JWT_AUDIENCE", "").strip() or cls.audience,
            leeway=whole_number(env, "JWT_LEEWAY", cls.leeway, minimum=0, maximum=MAX_LEEWAY),
            max_ttl=whole_number(env, "JWT_MAX_TTL", cls.max_ttl, minimum=1),
        )

    def verifier(self, *own_keys: VerifyKey) -> TokenVerifier:
        """A verifier of these settings: the keys of the file, or `own_keys` when
        there is none. `ConfigError` naming the variable when the file is unusable."""
        if self.public_keys_file is None:
            keys: Mapping[str, VerifyKey] | Path = {key_id(k): k for k in own_keys}
        else:
            keys = self.public_keys_file
        try:
            verifier = TokenVerifier(
                keys,
                issuer=self.issuer,
                audience=self.audience,
                leeway=timedelta(seconds=self.leeway),
                max_ttl=timedelta(seconds=self.max_ttl),
            )
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"{PUBLIC_KEYS_VARIABLE}={self.public_keys_file}: {reason(error)}"
            ) from None
        missing = [key_id(k) for k in own_keys if key_id(k) not in verifier.key_ids]
        if missing:
            raise ConfigError(
                f"{PUBLIC_KEYS_VARIABLE}={self.public_keys_file}: lacks the public key"
                f" of JWT_PRIVATE_KEY_FILE (kid {missing[0]})"
            )
        return verifier


# Keys and key files.


def key_id(key: VerifyKey) -> str:
    """The key's RFC 7638 thumbprint: the same key always has the same kid."""
    members = Ed25519Algorithm.to_jwk(key, as_dict=True)  # crv, kty, x: the required ones
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(key: VerifyKey) -> dict[str, str]:
    return {
        **Ed25519Algorithm.to_jwk(key, as_dict=True),
        "kid": key_id(key),
        "alg": ALGORITHM,
        "use": "sig",
    }


def read_key_set(path: Path) -> dict[str, VerifyKey]:
    """The Ed25519 keys of a JWKS file, by kid. ValueError when it has none."""
    try:
        document = json.loads(path.read_text())
        entries = document["keys"]
        keys = {}
        for entry in entries:
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue
            key = Ed25519Algorithm.from_jwk(entry)
            keys[entry.get("kid") or key_id(key)] = key
    except InvalidKeyError as error:
        raise ValueError(f"not a JWKS file of Ed25519 keys: {error}") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"not a JWKS file of Ed25519 keys ({type(error).__name__})") from None
    if not keys:
        raise ValueError("holds no Ed25519 key")
    return keys


def write_key_set(path: Path, keys: Iterable[VerifyKey]) -> None:
    """Write a JWKS file of `keys` (readable by all: they are public)."""
    document = {"keys": [public_jwk(key) for key in keys]}
    _write(path, json.dumps(document, indent=2) + "\n", 0o644)


def read_private_key(path: Path) -> SigningKey:
    """The Ed25519 private key in a PEM (PKCS #8) file. ValueError if it is another."""
    return private_key_from_pem(path.read_bytes())


def write_private_key(path: Path, key: SigningKey) -> None:
    """Write `key` as PEM (PKCS #8), readable by its owner only (mode 0600)."""
    _write(path, private_key_pem(key), 0o600)


def new_key(private_key_file: Path, public_keys_file: Path) -> SigningKey:
    """Rotate: a new private key in `private_key_file`, and in `public_keys_file`
    its public key first, then the one it replaces (the previous current key).
    The public keys are written first, so that a verifier knows the new key
    before any token is signed with it."""
    key = SigningKey.generate()
    previous: list[VerifyKey] = []
    if private_key_file.exists():
        previous = [read_private_key(private_key_file).verify_key]
    elif public_keys_file.exists():
        previous = list(read_key_set(public_keys_file).values())[:1]
    write_key_set(public_keys_file, [key.verify_key, *previous][:KEPT_KEYS])
    write_private_key(private_key_file, key)
    return key


def kept_key_pair(private_key_file: Path, public_keys_file: Path) -> bool:
    """Make a key pair if `private_key_file` does not exist yet (what `make run`
    does); True when one was made. An existing one is kept, and its public
    key put back in the set if it went missing."""
    if not private_key_file.exists():
        new_key(private_key_file, public_keys_file)
        return True
    public = read_private_key(private_key_file).verify_key
    known = read_key_set(public_keys_file) if public_keys_file.exists() else {}
    if key_id(public) not in known:
        write_key_set(public_keys_file, [public, *known.values()][:KEPT_KEYS])
    return False


def reason(error: Exception) -> str:
    """Why a key file cannot be used, without repeating its path."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


def _write(path: Path, text: str, mode: int) -> None:
    """Replace `path` at once (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(partial, mode)  # whatever the umask
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m shippy_kit.tokens new-key --private-key PEM --public-keys JWKS`."""
    import argparse  # here: every service imports this module, and only the command needs it

    parser = argparse.ArgumentParser(
        prog="python -m shippy_kit.tokens",
        description="Make user-service's signing key, or rotate it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser(
        "new-key", help="a new private key; the public key set keeps the previous one"
    )
    rotate.add_argument("--private-key", type=Path, required=True, help="PEM file (mode 0600)")
    rotate.add_argument("--public-keys", type=Path, required=True, help="JWKS file")
    args = parser.parse_args(argv)
    key = new_key(args.private_key, args.public_keys)
    print(f"new signing key {key_id(key.verify_key)}: {args.private_key}, {args.public_keys}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
