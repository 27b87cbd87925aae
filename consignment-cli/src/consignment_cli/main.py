"""consignment-cli's command line: parse the arguments, make one call, print the reply.

Exit codes: 0 done; 1 the stack answered with an error or could not be
reached; 2 the command line, the consignment file or the token was wrong
(nothing was sent). An error is one line on stderr, `consignment-cli:
<message>`, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from google.protobuf.message import Message
from micro import Options
from micro.config import ConfigError
from micro.errors import MicroError

from consignment_cli import commands, output
from consignment_cli.connection import describe
from consignment_cli.errors import USAGE_ERROR, CliError
from consignment_cli.request import load_request

PROG = "consignment-cli"
TOKEN_VARIABLE = "SHIPPY_TOKEN"
NO_TOKEN = f"no token: pass --token or set {TOKEN_VARIABLE} (TOKEN=$(user-cli login ...))"
INTERRUPTED = 130

Command = Callable[[argparse.Namespace, Options], Coroutine[Any, Any, Message]]
Render = Callable[[Any], str]

EXAMPLES = """\
examples:
  export SHIPPY_TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")
  consignment-cli create consignment.json
  consignment-cli list
  consignment-cli list --json --token "$TOKEN"

A consignment file (protobuf JSON; customerId or customer_id both work;
consignment-cli/examples/consignment.json is one):
  {
    "description": "Bananas for Rotterdam",
    "weight": 12000,
    "containers": [{"customerId": "cust-1", "origin": "Santos"}]
  }

It finds consignment-service through the registry on NATS at NATS_URL
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
        description="Create and list Shippy consignments, as the user a token names.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, in_subcommand=False)
    subcommands = parser.add_subparsers(metavar="COMMAND", required=True)

    create = _subcommand(
        subcommands,
        "create",
        "create a consignment from a JSON file; the service puts it on a vessel",
        'consignment-cli create consignment.json --token "$TOKEN"\n'
        "  consignment-cli create - < consignment.json",
        command=_create,
        render=output.created,
    )
    create.add_argument(
        "file", metavar="FILE", help='a CreateConsignmentRequest in JSON, or "-" for stdin'
    )

    _subcommand(
        subcommands,
        "list",
        "list your consignments",
        'consignment-cli list --token "$TOKEN"\n  SHIPPY_TOKEN="$TOKEN" consignment-cli list --json',
        command=_list,
        render=output.consignments,
    )
    return parser


def _create(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    token = _token(args)
    request = load_request(args.file, sys.stdin)
    return commands.create(options, request, token=token)


def _list(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return commands.list_consignments(options, token=_token(args))


def _token(args: argparse.Namespace) -> str:
    token = (args.token or os.environ.get(TOKEN_VARIABLE, "")).strip()
    if not token:
        raise CliError(NO_TOKEN, USAGE_ERROR)
    return token


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
    """--token, --json and --timeout, accepted before or after the subcommand.

    In a subcommand they default to SUPPRESS, so that a value given before
    the subcommand is not overwritten by the subcommand's default."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if in_subcommand else value

    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default=default(None),
        help=f"the token from `user-cli login` (default: ${TOKEN_VARIABLE})",
    )
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
