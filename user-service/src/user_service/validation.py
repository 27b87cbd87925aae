"""Checks on request fields. Each raises `InvalidArgument` naming the field."""

from __future__ import annotations

import uuid

from micro.errors import InvalidArgument

MAX_NAME_LENGTH = 255
MAX_COMPANY_LENGTH = 255
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72
"""bcrypt reads at most 72 bytes; longer passwords are refused, not cut."""


def name(value: str) -> str:
    """The name without surrounding spaces: 1 to 255 characters."""
    value = value.strip()
    if not value:
        raise InvalidArgument("name", "is required")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgument("name", f"must be at most {MAX_NAME_LENGTH} characters")
    return value


def company(value: str) -> str:
    """The company without surrounding spaces: may be empty, at most 255 characters."""
    value = value.strip()
    if len(value) > MAX_COMPANY_LENGTH:
        raise InvalidArgument("company", f"must be at most {MAX_COMPANY_LENGTH} characters")
    return value


def normalised_email(value: str) -> str:
    """The form in which emails are stored and compared: trimmed, lower case."""
    return value.strip().lower()


def email(value: str) -> str:
    """The address in normal form, after a deliberately simple check of its shape:
    one "@", no spaces, a local part, and a domain with a dot in it."""
    value = normalised_email(value)
    if not value:
        raise InvalidArgument("email", "is required")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidArgument("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
    local, at, domain = value.partition("@")
    if (
        not at
        or not local
        or "@" in domain
        or any(c.isspace() for c in value)
        or not _looks_like_domain(domain)
    ):
        raise InvalidArgument("email", "is not a valid email address")
    return value


def _looks_like_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels)


def password(value: str) -> str:
    """A new password: 8 to 72 bytes once encoded as UTF-8."""
    size = len(value.encode())
    if size < MIN_PASSWORD_BYTES:
        raise InvalidArgument("password", f"is too short: at least {MIN_PASSWORD_BYTES} bytes")
    if size > MAX_PASSWORD_BYTES:
        raise InvalidArgument(
            "password", f"is too long: at most {MAX_PASSWORD_BYTES} bytes in UTF-8"
        )
    return value


def user_id(value: str) -> uuid.UUID:
    if not value:
        raise InvalidArgument("id", "is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument("id", f"must be a UUID, got {value[:64]!r}") from None
