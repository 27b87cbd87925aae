"""`shippy_kit.cli`: every Shippy command line's parsing, exit codes and
one-line errors, shown on a small CLI made here."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import pytest
from devstack.ports import free_port
from micro.config import Options
from micro.errors import NotFound, ServiceNotFound
from shippy.user.v1 import user_pb2
from shippy_kit.auth import bearer
from shippy_kit.cli import USAGE_ERROR, CliError, CommandLine, check_nats, table

Run = Callable[..., tuple[int, str, str]]


async def show(args: argparse.Namespace, options: Options) -> user_pb2.User:
    """Replies with a user, or raises what `--fail` names."""
    failures: dict[str, Callable[[], Exception]] = {
        "usage": lambda: CliError("no token given", USAGE_ERROR),
        "service": lambda: NotFound("user u2 not found"),
        "registry": lambda: ServiceNotFound("shippy.user", "nats"),
        "bug": lambda: RuntimeError("boom"),
    }
    if args.fail:
        raise failures[args.fail]()
    return user_pb2.User(id=args.id, name=f"Ada (waits {options.client_timeout:g}s)")


def build_cli() -> CommandLine:
    cli = CommandLine("demo-cli", "Show users.", "examples:\n  demo-cli show u1")
    command = cli.subcommand(
        "show", "show one user", "demo-cli show u1", command=show, render=lambda u: u.name
    )
    command.add_argument("id")
    command.add_argument("--fail", default=None)
    return cli


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """`run(*argv)`: (exit code, stdout, stderr) of `demo-cli ARGV`."""
    monkeypatch.delenv("MICRO_CLIENT_TIMEOUT", raising=False)
    cli = build_cli()

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_command_prints_its_reply_through_its_render(run: Run) -> None:
    assert run("show", "u1") == (0, "Ada (waits 5s)\n", "")


@pytest.mark.parametrize(
    "argv", [["--timeout", "2", "show", "u1"], ["show", "u1", "--timeout", "2"]]
)
def test_global_options_go_before_or_after_the_command(run: Run, argv: list[str]) -> None:
    assert run(*argv) == (0, "Ada (waits 2s)\n", "")


def test_json_prints_the_reply_in_protobufs_json_mapping(run: Run) -> None:
    code, out, _ = run("show", "u1", "--json")

    assert code == 0
    assert json.loads(out) == {  # every field, set or not
        "id": "u1",
        "name": "Ada (waits 5s)",
        "company": "",
        "email": "",
    }


@pytest.mark.parametrize("argv", [["--help"], ["show", "--help"]])
def test_help_exits_0_with_an_example(run: Run, argv: list[str]) -> None:
    code, out, err = run(*argv)

    assert (code, err) == (0, "")
    assert "demo-cli show u1" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["hide"], "invalid choice: 'hide'"),
        (["show"], "the following arguments are required: id"),
        (["show", "u1", "--timeout", "0"], "must be more than 0: '0'"),
    ],
)
def test_a_wrong_command_line_exits_2_with_usage(run: Run, argv: list[str], complaint: str) -> None:
    code, out, err = run(*argv)

    assert (code, out) == (2, "")
    assert err.startswith("usage: demo-cli")
    assert complaint in err


@pytest.mark.parametrize(
    ("failure", "code", "line"),
    [
        ("usage", 2, "demo-cli: no token given"),
        ("service", 1, "demo-cli: user u2 not found"),
        (
            "registry",
            1,
            'demo-cli: service "shippy.user" not found in registry nats'
            " — is the stack running? (make run)",
        ),
        ("bug", 1, "demo-cli: unexpected error: RuntimeError: boom"),
    ],
)
def test_an_error_is_one_line_and_an_exit_code(
    run: Run, failure: str, code: int, line: str
) -> None:
    assert run("show", "u1", "--fail", failure) == (code, "", line + "\n")


def test_a_bad_variable_is_a_usage_error(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICRO_CLIENT_TIMEOUT", "soon")

    assert run("show", "u1") == (
        2,
        "",
        "demo-cli: MICRO_CLIENT_TIMEOUT='soon': must be a number of seconds\n",
    )


async def test_an_unreachable_nats_is_one_line_that_says_what_to_start() -> None:
    url = f"nats://127.0.0.1:{free_port()}"

    with pytest.raises(CliError) as failure:
        await check_nats(url, connect_timeout=0.5)

    assert str(failure.value) == f"cannot reach NATS at {url}: is the stack running? (make run)"
    assert failure.value.exit_code == 1


async def test_a_cli_error_never_prints_the_password_of_nats_url() -> None:
    port = free_port()

    with pytest.raises(CliError) as failure:
        await check_nats(f"nats://app:s3cret@127.0.0.1:{port}", connect_timeout=0.5)

    assert "s3cret" not in str(failure.value)
    assert f"nats://app:***@127.0.0.1:{port}" in str(failure.value)


async def test_a_refused_login_says_authorization_violation(nats_with_a_password: str) -> None:
    with pytest.raises(CliError) as failure:
        await check_nats(f"nats://app:wrong@{nats_with_a_password}", connect_timeout=2)

    assert "authorization violation" in str(failure.value)
    assert "wrong" not in str(failure.value)


def test_table_lines_up_columns_under_their_headers() -> None:
    assert table(("ID", "NAME"), [("u1", "Ada Lovelace"), ("user-22", "Grace")]).splitlines() == [
        "ID       NAME",
        "u1       Ada Lovelace",
        "user-22  Grace",
    ]


def test_bearer_is_the_metadata_services_read_the_token_from() -> None:
    assert bearer("abc.def") == (("authorization", "Bearer abc.def"),)
