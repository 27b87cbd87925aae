"""user-cli's command line: parse the arguments, make one call, print the reply.

Exit codes: 0 done; 1 the stack answered with an error or could not be
reached; 2 the command line was wrong (argparse's own code). An error is one
line on stderr, `user-cli: <message>`, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from google.protobuf.message import Message
from micro import Options
from micro.config import ConfigError
from micro.errors import MicroError

from user_cli import commands, output
from user_cli.connection import describe
from user_cli.errors import USAGE_ERROR, CliError
from user_cli.passwords import read_password

PROG = "user-cli"
INTERRUPTED = 130

Command = Callable[[argparse.Namespace, Options], Coroutine[Any, Any, Message]]
Render = Callable[[Any], str]

EXAMPLES = """\
examples:
  user-cli create --name "Ada Lovelace" --email ada@example.com --company Analytical
  user-cli create --name Ada --email ada@example.com --company Analytical --password-stdin <<< "$PASSWORD"
  TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")
  user-cli validate "$TOKEN"
  user-cli list --json

It finds user-service through the registry on NATS at NATS_URL
(default nats://127.0.0.1:4222); `make run` starts the whole stack.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else USAGE_ERROR
    _keep_library_logs_quiet()
    try:
        options = _options(args)
        reply = asyncio.run(args.command(args, options))
    except CliError as error:
        return _fail(error.message, error.exit_code)
    except MicroError as error:
        return _fail(describe(error), 1)
    except ConfigError as error:
        return _fail(str(error), USAGE_ERROR)
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:  # a bug, or a failure nobody foresaw: still one line
        return _fail(f"unexpected error: {type(error).__name__}: {error}", 1)
    render: Render = output.as_json if args.json else args.render
    print(render(reply))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Create Shippy users, log in, look users up and check tokens.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, in_subcommand=False)
    subcommands = parser.add_subparsers(metavar="COMMAND", required=True)

    create = _subcommand(
        subcommands,
        "create",
        "create a user",
        'user-cli create --name "Ada Lovelace" --email ada@example.com --company Analytical\n'
        "  (asks for the password twice; or pass --password-stdin and pipe it in)",
        command=_create,
        render=output.created,
    )
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--company", required=True)
    _add_password_options(create)

    login = _subcommand(
        subcommands,
        "login",
        "log in and print a token (only the token, for TOKEN=$(...))",
        'TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")',
        command=_login,
        render=output.token,
    )
    login.add_argument("--email", required=True)
    _add_password_options(login)

    get = _subcommand(
        subcommands,
        "get",
        "show one user",
        "user-cli get 0b6f5c1e-8d3a-4c2e-9f27-6a1b2c3d4e5f",
        command=_get,
        render=output.user,
    )
    get.add_argument("id", metavar="ID", help="the user's id")

    _subcommand(
        subcommands,
        "list",
        "list every user",
        "user-cli list\n  user-cli list --json",
        command=_list,
        render=output.users,
    )

    validate = _subcommand(
        subcommands,
        "validate",
        "check a token: print its user id and expiry",
        'user-cli validate "$TOKEN"\n  user-cli login ... | user-cli validate -',
        command=_validate,
        render=output.token_check,
    )
    validate.add_argument("token", metavar="TOKEN", help='the token, or "-" to read it from stdin')
    return parser


def _create(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    password = _password(args, confirm=True)
    return commands.create(
        options, name=args.name, email=args.email, company=args.company, password=password
    )


def _login(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.login(options, email=args.email, password=_password(args, confirm=False))


def _get(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.get(options, user_id=args.id)


def _list(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.list_users(options)


def _validate(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    if not token:
        raise CliError("no token given", USAGE_ERROR)
    return commands.validate(options, token=token)


def _password(args: argparse.Namespace, *, confirm: bool) -> str:
    return read_password(
        given=args.password, from_stdin=args.password_stdin, stdin=sys.stdin, confirm=confirm
    )


def _subcommand(
    subcommands: Any,
    name: str,
    summary: str,
    examples: str,
    *,
    command: Command,
    render: Render,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=f"example:\n  {examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, in_subcommand=True)
    parser.set_defaults(command=command, render=render)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """--json and --timeout, accepted before or after the subcommand.

    In a subcommand they default to SUPPRESS, so that a value given before
    the subcommand is not overwritten by the subcommand's default."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if in_subcommand else value

    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the reply as JSON (protobuf's JSON mapping), for scripts",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        default=default(None),
        help="how long to wait for the service (default: MICRO_CLIENT_TIMEOUT, or 5)",
    )


def _add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password",
        metavar="PASSWORD",
        help="the password (visible to other users of this machine: prefer --password-stdin)",
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _options(args: argparse.Namespace) -> Options:
    options = Options.from_env()
    if args.timeout is not None:
        options = replace(options, client_timeout=args.timeout)
    return options


def _fail(message: str, exit_code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return exit_code


def _keep_library_logs_quiet() -> None:
    """Library warnings would reach stderr through logging's last resort;
    a command prints its own one-line errors instead."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


if __name__ == "__main__":
    sys.exit(main())
