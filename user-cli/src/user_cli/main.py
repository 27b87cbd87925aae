"""user-cli's command line: its subcommands and their arguments. Parsing,
exit codes and one-line errors are `shippy_kit.cli`'s, as for every Shippy CLI."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine
from typing import Any

from google.protobuf.message import Message
from micro import Options
from shippy_kit.cli import USAGE_ERROR, CliError, CommandLine

from user_cli import commands, output
from user_cli.passwords import read_password

PROG = "user-cli"
TOKEN_VARIABLE = "SHIPPY_TOKEN"
NO_TOKEN = f"no token: pass --token or set {TOKEN_VARIABLE} (TOKEN=$(user-cli login ...))"

EXAMPLES = """\
examples:
  user-cli create --name "Ada Lovelace" --email ada@example.com --company Analytical
  user-cli create --name Ada --email ada@example.com --company Analytical --password-stdin <<< "$PASSWORD"
  export SHIPPY_TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")
  user-cli validate "$SHIPPY_TOKEN"
  user-cli get 0b6f5c1e-8d3a-4c2e-9f27-6a1b2c3d4e5f     (yourself; anyone else: admin only)
  user-cli list --json                                 (admin only)

`get` and `list` send the token of --token, else of SHIPPY_TOKEN.

It finds user-service through the registry on NATS at NATS_URL
(default nats://127.0.0.1:4222); `make run` starts the whole stack.
"""


def build_cli() -> CommandLine:
    cli = CommandLine(
        PROG, "Create Shippy users, log in, look users up and check tokens.", EXAMPLES
    )
    cli.global_option(
        "--token",
        metavar="TOKEN",
        default=None,
        help=f"the token from `user-cli login`, for get and list (default: ${TOKEN_VARIABLE})",
    )
    create = cli.subcommand(
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

    login = cli.subcommand(
        "login",
        "log in and print a token (only the token, for TOKEN=$(...))",
        'TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")',
        command=_login,
        render=output.token,
    )
    login.add_argument("--email", required=True)
    _add_password_options(login)

    get = cli.subcommand(
        "get",
        "show one user: yourself (an admin: anyone)",
        'user-cli get 0b6f5c1e-8d3a-4c2e-9f27-6a1b2c3d4e5f --token "$TOKEN"',
        command=_get,
        render=output.user,
    )
    get.add_argument("id", metavar="ID", help="the user's id")

    cli.subcommand(
        "list",
        "list every user (admin only)",
        'user-cli list --token "$TOKEN"\n  SHIPPY_TOKEN="$TOKEN" user-cli list --json',
        command=_list,
        render=output.users,
    )

    validate = cli.subcommand(
        "validate",
        "check a token: print its user id and expiry",
        'user-cli validate "$TOKEN"\n  user-cli login ... | user-cli validate -',
        command=_validate,
        render=output.token_check,
    )
    validate.add_argument("token", metavar="TOKEN", help='the token, or "-" to read it from stdin')
    return cli


def _create(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    password = _password(args, confirm=True)
    return commands.create(
        options, name=args.name, email=args.email, company=args.company, password=password
    )


def _login(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.login(options, email=args.email, password=_password(args, confirm=False))


def _get(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.get(options, user_id=args.id, token=_token(args))


def _list(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.list_users(options, token=_token(args))


def _token(args: argparse.Namespace) -> str:
    token = (args.token or os.environ.get(TOKEN_VARIABLE, "")).strip()
    if not token:
        raise CliError(NO_TOKEN, USAGE_ERROR)
    return token


def _validate(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    if not token:
        raise CliError("no token given", USAGE_ERROR)
    return commands.validate(options, token=token)


def _password(args: argparse.Namespace, *, confirm: bool) -> str:
    return read_password(
        given=args.password, from_stdin=args.password_stdin, stdin=sys.stdin, confirm=confirm
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


main = build_cli().main
"""Runs one command, returns its exit code: the console script `user-cli`."""

if __name__ == "__main__":
    sys.exit(main())
