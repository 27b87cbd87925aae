"""consignment-cli's errors when it is called wrong, the file is wrong, the
token is missing or the stack is not there: one line on stderr, a telling
exit code, never a traceback, and nothing sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from devstack.ports import free_port

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]

NO_TOKEN = (
    "consignment-cli: no token: pass --token or set SHIPPY_TOKEN (TOKEN=$(user-cli login ...))\n"
)


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> str:
    """NATS_URL where nothing listens: any attempt to send would fail
    differently from the file and token errors these tests expect."""
    for name in ("MICRO_BROKER_ADDRESS", "SHIPPY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    url = f"nats://127.0.0.1:{free_port()}"
    monkeypatch.setenv("NATS_URL", url)
    return url


@pytest.mark.parametrize("command", [[], ["create"], ["list"]])
async def test_every_command_has_help_with_an_example(
    consignment_cli: RunCli, command: list[str]
) -> None:
    code, out, err = await consignment_cli(*command, "--help")

    assert (code, err) == (0, "")
    assert "example" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["delete"], "invalid choice: 'delete'"),
        (["create"], "the following arguments are required: FILE"),
        (["list", "extra"], "unrecognized arguments: extra"),
    ],
)
async def test_a_wrong_command_line_exits_2_with_usage(
    consignment_cli: RunCli, argv: list[str], complaint: str
) -> None:
    code, out, err = await consignment_cli(*argv)

    assert (code, out) == (2, "")
    assert err.startswith("usage: consignment-cli")
    assert complaint in err


@pytest.mark.parametrize("command", [["list"], ["create", "consignment.json"]])
async def test_without_a_token_it_says_where_to_get_one(
    consignment_cli: RunCli, nowhere: str, command: list[str]
) -> None:
    code, out, err = await consignment_cli(*command)

    assert (code, out, err) == (2, "", NO_TOKEN)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"description": "bananas",', "not valid JSON: Expecting property name enclosed in"),
        ("[]", "must hold a JSON object with description, weight and containers"),
        ('{"descripton": "bananas"}', 'unknown field "descripton" in CreateConsignmentRequest'),
        (
            '{"containers": [{"customer": "c1"}]}',
            'unknown field "customer" in CreateConsignmentRequest.containers[0]',
        ),
        ('{"weight": "heavy"}', "Failed to parse weight field"),
    ],
)
async def test_a_wrong_file_is_named_with_its_problem_and_nothing_is_sent(
    consignment_cli: RunCli, nowhere: str, tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "consignment.json"
    path.write_text(content)

    code, out, err = await consignment_cli("create", str(path), "--token", "ada-token")

    assert (code, out) == (2, "")
    assert err.startswith(f"consignment-cli: {path}: {problem}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "missing.json", "no such file"),
        (lambda tmp: tmp, "is a directory, not a file"),
    ],
)
async def test_a_file_that_cannot_be_read_is_named(
    consignment_cli: RunCli,
    nowhere: str,
    tmp_path: Path,
    make: Callable[[Path], Path],
    problem: str,
) -> None:
    path = make(tmp_path)

    code, _, err = await consignment_cli("create", str(path), "--token", "ada-token")

    assert code == 2
    assert err == f"consignment-cli: {path}: {problem}\n"


async def test_when_nats_is_unreachable_it_says_so_in_one_line(
    consignment_cli: RunCli, nowhere: str
) -> None:
    code, out, err = await consignment_cli("list", "--token", "ada-token")

    assert (code, out) == (1, "")
    assert err == (
        f"consignment-cli: cannot reach NATS at {nowhere}: is the stack running? (make run)\n"
    )


async def test_when_consignment_service_is_not_running_it_names_the_service(
    consignment_cli: RunCli, stack_env: str
) -> None:
    code, _, err = await consignment_cli("list", "--token", "ada-token")

    assert code == 1
    assert err == (
        'consignment-cli: service "shippy.consignment" not found in registry nats'
        " — is the stack running? (make run)\n"
    )
