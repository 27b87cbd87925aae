"""Request fields are checked before anything is stored; errors name the field."""

import uuid

import pytest
from micro.errors import InvalidArgument
from user_service import validation


def test_names_and_companies_lose_surrounding_spaces() -> None:
    assert validation.name("  Ada Lovelace ") == "Ada Lovelace"
    assert validation.company(" Analytical Engines ") == "Analytical Engines"
    assert validation.company("") == ""


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_a_name_is_1_to_255_characters(name: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validation.name(name)

    assert raised.value.field == "name"


def test_a_company_is_at_most_255_characters() -> None:
    assert validation.company("x" * 255) == "x" * 255
    with pytest.raises(InvalidArgument, match=r"^company: must be at most 255 characters$"):
        validation.company("x" * 256)


def test_an_email_is_kept_in_lower_case() -> None:
    assert validation.email(" Ada@Example.COM ") == "ada@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@exa@mple.com",
        "ada lovelace@example.com",
        "ada@.example.com",
        "ada@example.com.",
        "ada@example..com",
        "a" * 243 + "@example.com",  # 255 characters
    ],
)
def test_an_email_that_does_not_look_like_one_is_refused(email: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validation.email(email)

    assert raised.value.field == "email"


def test_a_password_is_8_to_72_bytes_of_utf8() -> None:
    assert validation.password("12345678") == "12345678"
    assert validation.password("é" * 36) == "é" * 36  # 72 bytes

    with pytest.raises(InvalidArgument, match=r"^password: is too short"):
        validation.password("1234567")
    with pytest.raises(InvalidArgument, match=r"^password: is too long"):
        validation.password("é" * 37)  # 37 characters, 74 bytes


def test_an_id_is_a_uuid() -> None:
    user_id = uuid.uuid4()

    assert validation.user_id(str(user_id)) == user_id
    with pytest.raises(InvalidArgument, match=r"^id: must be a UUID"):
        validation.user_id("42")
    with pytest.raises(InvalidArgument, match=r"^id: is required$"):
        validation.user_id("")
