"""The CLIs as scripts see them: exit code 0 and parseable `--json` when a command
works; exit code 1 and one line on stderr, never a traceback, when the stack
refuses it. Commands are written as typed in a shell, with the test user's
`{id}`, `{email}`, `{password}` and `{token}` filled in, and `{admin_token}`:
an admin's token signed with the stack's key."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import pytest
from shippy_kit.tokens import ADMIN

from .backends import Stack
from .helpers import Account, CliRun, run_cli, succeeded


def run(stack: Stack, command: str, user: Account, token: str, stdin: str | None = None) -> CliRun:
    admin_token = (
        stack.token_mint.token(user.id, roles=[ADMIN]) if "{admin_token}" in command else ""
    )
    program, *args = shlex.split(
        command.format(
            id=user.id,
            email=user.email,
            password=user.password,
            token=token,
            admin_token=admin_token,
        )
    )
    return run_cli(stack, program, *args, stdin=stdin)


@pytest.mark.parametrize(
    ("command", "stdin", "says"),
    [
        pytest.param(
            "user-cli get not-a-uuid --token {token}",
            None,
            "id: must be a UUID",
            id="user-cli get, bad id",
        ),
        pytest.param(
            "user-cli get 00000000-0000-4000-8000-000000000000 --token {admin_token}",
            None,
            "no user with id",
            id="user-cli get, unknown id",
        ),
        pytest.param(
            "user-cli get 00000000-0000-4000-8000-000000000000 --token {token}",
            None,
            "a user may get only themselves",
            id="user-cli get, another user",
        ),
        pytest.param(
            "user-cli list --token {token}",
            None,
            "needs the role admin",
            id="user-cli list, not an admin",
        ),
        pytest.param(
            "user-cli list --token not-a-token",
            None,
            "invalid token",
            id="user-cli list, bad token",
        ),
        pytest.param(
            "user-cli login --email {email} --password not-my-password",
            None,
            "invalid email or password",
            id="user-cli login, wrong password",
        ),
        pytest.param(
            "user-cli create --name Ada --email {email} --company X --password long-enough",
            None,
            "already exists",
            id="user-cli create, email taken",
        ),
        pytest.param(
            "user-cli create --name Ada --email not-an-email --company X --password long-enough",
            None,
            "email: is not a valid email address",
            id="user-cli create, bad email",
        ),
        pytest.param(
            "user-cli validate not-a-token",
            None,
            "invalid token",
            id="user-cli validate, bad token",
        ),
        pytest.param(
            "consignment-cli list --token not-a-token",
            None,
            "invalid token",
            id="consignment-cli list, bad token",
        ),
        pytest.param(
            "consignment-cli create - --token {token}",
            '{"description": "Nothing at all", "weight": 1, "containers": []}',
            "containers: must hold 1",
            id="consignment-cli create, no containers",
        ),
    ],
)
def test_a_refused_command_exits_1_with_one_line_on_stderr(
    stack: Stack, user: Account, token: str, command: str, stdin: str | None, says: str
) -> None:
    refused = run(stack, command, user, token, stdin)

    program = command.split()[0]
    assert refused.exit_code == 1, str(refused)
    assert refused.stdout == ""
    assert refused.stderr.startswith(f"{program}: "), str(refused)
    assert says in refused.stderr, str(refused)
    assert refused.stderr.count("\n") == 1, f"more than one line:\n{refused.stderr}"
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("command", "shows"),
    [
        pytest.param(
            "user-cli get {id} --json --token {token}",
            lambda out, user: out["user"]["email"] == user.email,
            id="user-cli get",
        ),
        pytest.param(
            "user-cli list --json --token {admin_token}",
            lambda out, user: user.id in [u["id"] for u in out["users"]],
            id="user-cli list",
        ),
        pytest.param(
            "user-cli login --email {email} --password {password} --json",
            lambda out, user: out["token"].count(".") == 2 and bool(out["expiresAt"]),
            id="user-cli login",
        ),
        pytest.param(
            "user-cli validate {token} --json",
            lambda out, user: out["userId"] == user.id,
            id="user-cli validate",
        ),
        pytest.param(
            "consignment-cli list --token {token} --json",
            lambda out, user: out["consignments"] == [],
            id="consignment-cli list",
        ),
    ],
)
def test_json_output_parses(
    stack: Stack,
    user: Account,
    token: str,
    command: str,
    shows: Callable[[Any, Account], bool],
) -> None:
    done = succeeded(run(stack, command, user, token))

    assert shows(done.json(), user), done.stdout
