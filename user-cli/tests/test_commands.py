"""user-cli against a running UserService, found through the NATS registry:
what a person sees by default, and what a script gets with --json."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]

PASSWORD = "correct horse battery staple"


class Terminal(io.StringIO):
    """stdin when a person types at a terminal."""

    def isatty(self) -> bool:
        return True


def new_email() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


def create(email: str, *password: str) -> list[str]:
    """`user-cli create` for Ada with `email`; `password`: how it is given
    (nothing: typed at the prompt)."""
    return [
        "create",
        *("--name", "Ada Lovelace", "--email", email, "--company", "Analytical Engines"),
        *password,
    ]


async def create_user(user_cli: RunCli, email: str) -> str:
    """Creates a user through the CLI; returns the new user's id."""
    code, out, _ = await user_cli(
        "--json", *create(email, "--password-stdin"), stdin=PASSWORD + "\n"
    )
    assert code == 0
    return str(json.loads(out)["user"]["id"])


async def logged_in(user_cli: RunCli, email: str | None = None) -> tuple[str, str]:
    """A new user's id, and the token `user-cli login` printed for them."""
    email = email or new_email()
    user_id = await create_user(user_cli, email)
    _, token, _ = await user_cli("login", "--email", email, "--password", PASSWORD)
    return user_id, token.strip()


async def test_create_prints_the_new_user(users: Any, user_cli: RunCli) -> None:
    email = new_email()

    code, out, err = await user_cli(*create(email, "--password-stdin"), stdin=PASSWORD + "\n")

    assert (code, err) == (0, "")
    assert re.fullmatch(
        rf"created user [0-9a-f-]{{36}}: Ada Lovelace <{email}> at Analytical Engines\n", out
    )
    assert users.passwords[email] == PASSWORD  # the line of stdin, without its newline


async def test_create_with_json_prints_the_reply_for_scripts(users: Any, user_cli: RunCli) -> None:
    email = new_email()

    code, out, _ = await user_cli(*create(email, "--password", PASSWORD), "--json")

    assert code == 0
    user = json.loads(out)["user"]
    assert (user["name"], user["email"], user["company"]) == (
        "Ada Lovelace",
        email,
        "Analytical Engines",
    )
    assert "createdAt" in user
    assert PASSWORD not in out


async def test_create_asks_for_the_password_twice_at_a_terminal(
    users: Any, user_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("getpass.getpass", typed)
    email = new_email()

    code, _, _ = await user_cli(*create(email), stdin=Terminal())

    assert code == 0
    assert prompts == ["Password: ", "Repeat password: "]
    assert users.passwords[email] == PASSWORD


async def test_two_different_passwords_at_the_prompt_create_nobody(
    users: Any, user_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["first try", "second try"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))

    code, out, err = await user_cli(*create(new_email()), stdin=Terminal())

    assert (code, out) == (2, "")
    assert err == "user-cli: the two passwords differ\n"
    assert users.users == {}


async def test_a_field_the_service_refuses_is_named_on_one_line(
    users: Any, user_cli: RunCli
) -> None:
    code, out, err = await user_cli(*create("not-an-email", "--password", "p"))

    assert (code, out) == (1, "")
    assert err == "user-cli: email: not a valid email address\n"


async def test_login_prints_only_the_token(users: Any, user_cli: RunCli) -> None:
    email = new_email()
    await create_user(user_cli, email)

    code, out, _ = await user_cli("login", "--email", email, "--password-stdin", stdin=PASSWORD)

    assert code == 0
    token = out.removesuffix("\n")
    assert token in users.tokens
    assert out == token + "\n"  # TOKEN=$(user-cli login ...) holds just the token


async def test_login_with_json_prints_the_token_and_its_expiry(
    users: Any, user_cli: RunCli
) -> None:
    email = new_email()
    await create_user(user_cli, email)

    code, out, _ = await user_cli("login", "--email", email, "--password", PASSWORD, "--json")

    assert code == 0
    assert set(json.loads(out)) == {"token", "expiresAt"}


async def test_a_wrong_password_is_refused(users: Any, user_cli: RunCli) -> None:
    email = new_email()
    await create_user(user_cli, email)

    code, out, err = await user_cli("login", "--email", email, "--password", "wrong")

    assert (code, out) == (1, "")
    assert err == "user-cli: invalid email or password\n"
    assert "wrong" not in err


async def test_get_shows_one_user(users: Any, user_cli: RunCli) -> None:
    email = new_email()
    user_id, token = await logged_in(user_cli, email)

    code, out, _ = await user_cli("get", user_id, "--token", token)

    assert code == 0
    assert out.splitlines()[:4] == [
        f"id:      {user_id}",
        "name:    Ada Lovelace",
        f"email:   {email}",
        "company: Analytical Engines",
    ]
    assert re.fullmatch(r"created: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", out.splitlines()[4])


async def test_get_and_list_send_the_token_of_shippy_token(
    users: Any, user_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await logged_in(user_cli)
    monkeypatch.setenv("SHIPPY_TOKEN", token)

    got, _, _ = await user_cli("get", user_id)
    listed, _, _ = await user_cli("list")

    assert (got, listed) == (0, 0)


@pytest.mark.parametrize("command", [["get", "some-id"], ["list"]])
async def test_get_and_list_without_a_token_say_how_to_get_one(
    users: Any, user_cli: RunCli, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.delenv("SHIPPY_TOKEN", raising=False)

    code, out, err = await user_cli(*command)

    assert (code, out) == (2, "")
    assert err == (
        "user-cli: no token: pass --token or set SHIPPY_TOKEN (TOKEN=$(user-cli login ...))\n"
    )


async def test_a_token_the_service_refuses_is_said_in_one_line(
    users: Any, user_cli: RunCli
) -> None:
    code, out, err = await user_cli("list", "--token", "made-up")

    assert (code, out) == (1, "")
    assert err == "user-cli: invalid token\n"


async def test_get_of_an_unknown_user_says_so(users: Any, user_cli: RunCli) -> None:
    _, token = await logged_in(user_cli)
    code, out, err = await user_cli("get", "nobody", "--token", token)

    assert (code, out) == (1, "")
    assert err == "user-cli: user nobody not found\n"


async def test_list_prints_a_table(users: Any, user_cli: RunCli) -> None:
    first, second = new_email(), new_email()
    _, token = await logged_in(user_cli, first)
    await create_user(user_cli, second)

    code, out, _ = await user_cli("list", "--token", token)

    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "NAME", "EMAIL", "COMPANY", "CREATED"]
    assert [first in rows[0], second in rows[1]] == [True, True]


async def test_list_when_there_are_no_users(users: Any, user_cli: RunCli) -> None:
    _, token = await logged_in(user_cli)
    users.users.clear()  # the fake keeps the token valid: an empty list

    code, out, _ = await user_cli("list", "--token", token)

    assert (code, out) == (0, "no users\n")


@pytest.mark.parametrize("argv", [["--json", "list"], ["list", "--json"]])
async def test_json_is_accepted_before_or_after_the_command(
    users: Any, user_cli: RunCli, argv: list[str]
) -> None:
    email = new_email()
    _, token = await logged_in(user_cli, email)

    code, out, _ = await user_cli(*argv, "--token", token)

    assert code == 0
    assert [u["email"] for u in json.loads(out)["users"]] == [email]


async def test_list_with_json_and_no_users_still_has_the_list(users: Any, user_cli: RunCli) -> None:
    _, token = await logged_in(user_cli)
    users.users.clear()

    code, out, _ = await user_cli("list", "--json", "--token", token)

    assert (code, json.loads(out)) == (0, {"users": [], "nextPageToken": ""})  # every page read


async def test_validate_prints_whose_token_it_is_and_until_when(
    users: Any, user_cli: RunCli
) -> None:
    user_id, token = await logged_in(user_cli)

    code, out, _ = await user_cli("validate", token)

    assert code == 0
    valid_for, expires = out.splitlines()
    assert valid_for == f"valid for user: {user_id}"
    assert re.fullmatch(r"expires:        \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", expires)


async def test_validate_reads_the_token_from_stdin_with_a_dash(
    users: Any, user_cli: RunCli
) -> None:
    user_id, token = await logged_in(user_cli)

    code, out, _ = await user_cli("validate", "-", "--json", stdin=token)

    assert code == 0
    assert json.loads(out)["userId"] == user_id


async def test_an_invalid_token_is_refused(users: Any, user_cli: RunCli) -> None:
    code, out, err = await user_cli("validate", "forged")

    assert (code, out, err) == (1, "", "user-cli: invalid token\n")
