"""user-cli's errors when it is called wrong or the stack is not there:
one line on stderr, a telling exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from devstack.ports import free_port

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]

COMMANDS = ["create", "login", "get", "list", "validate"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
async def test_every_command_has_help_with_an_example(user_cli: RunCli, command: list[str]) -> None:
    code, out, err = await user_cli(*command, "--help")

    assert code == 0
    assert "example" in out
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["lst"], "invalid choice: 'lst'"),
        (["create", "--email", "ada@example.com"], "the following arguments are required: --name"),
        (["login", "--email", "a@b.c", "--password", "p", "--password-stdin"], "not allowed with"),
        (["get"], "the following arguments are required: ID"),
        (["list", "--timeout", "soon"], "not a number of seconds: 'soon'"),
    ],
)
async def test_a_wrong_command_line_exits_2_with_usage(
    user_cli: RunCli, argv: list[str], complaint: str
) -> None:
    code, out, err = await user_cli(*argv)

    assert code == 2
    assert out == ""
    assert err.startswith("usage: user-cli")
    assert complaint in err


async def test_without_a_password_and_without_a_terminal_it_says_how_to_give_one(
    user_cli: RunCli,
) -> None:
    code, out, err = await user_cli("login", "--email", "ada@example.com", stdin="")

    assert (code, out) == (2, "")
    assert err == "user-cli: password required: use --password or --password-stdin\n"


async def test_when_nats_is_unreachable_it_says_so_in_one_line(
    user_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MICRO_BROKER_ADDRESS", raising=False)
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("NATS_URL", url)

    code, out, err = await user_cli("list", "--token", "t")

    assert (code, out) == (1, "")
    assert err == f"user-cli: cannot reach NATS at {url}: is the stack running? (make run)\n"


async def test_when_user_service_is_not_running_it_names_the_service(
    user_cli: RunCli, stack_env: str
) -> None:
    code, out, err = await user_cli("list", "--token", "t")

    assert (code, out) == (1, "")
    assert err == (
        'user-cli: service "shippy.user" not found in registry nats'
        " — is the stack running? (make run)\n"
    )


async def test_a_bad_setting_in_the_environment_is_a_usage_error(
    user_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_CLIENT_TIMEOUT", "soon")

    code, _, err = await user_cli("list", "--token", "t")

    assert code == 2
    assert err == "user-cli: MICRO_CLIENT_TIMEOUT='soon': must be a number of seconds\n"
