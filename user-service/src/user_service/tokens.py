"""JSON Web Tokens (HS256) that say which user holds them and until when.

Claims: `sub` (the user id), `iat`, `exp` and `iss`; all four are required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from micro.errors import Unauthenticated

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss"]


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    user_id: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Tokens:
    """Issues and checks tokens. `clock` is for tests that need an old token."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        ttl: timedelta,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._ttl = ttl
        self._clock = clock

    def issue(self, user_id: str) -> Token:
        issued_at = self._clock().replace(microsecond=0)  # JWT times are whole seconds
        expires_at = issued_at + self._ttl
        claims = {"sub": user_id, "iat": issued_at, "exp": expires_at, "iss": self._issuer}
        value = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return Token(value=value, user_id=user_id, expires_at=expires_at)

    def validate(self, value: str) -> Token:
        """The token's user and expiry, or `Unauthenticated` saying what is wrong."""
        if not value:
            raise Unauthenticated("token is missing")
        try:
            claims = jwt.decode(
                value,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token was not issued by this service") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f'invalid token: no "{error.claim}" claim') from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("invalid token: bad signature") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token") from None
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        return Token(value=value, user_id=claims["sub"], expires_at=expires_at)
