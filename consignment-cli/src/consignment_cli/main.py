"""consignment-cli's command line: its subcommands, and the token every call
carries. Parsing, exit codes (2 also for a wrong consignment file or a missing
token) and one-line errors are `shippy_kit.cli`'s, as for every Shippy CLI."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine
from typing import Any

from google.protobuf.message import Message
from micro import Options
from shippy_kit.cli import USAGE_ERROR, CliError, CommandLine

from consignment_cli import commands, output
from consignment_cli.request import load_request

PROG = "consignment-cli"
TOKEN_VARIABLE = "SHIPPY_TOKEN"
NO_TOKEN = f"no token: pass --token or set {TOKEN_VARIABLE} (TOKEN=$(user-cli login ...))"

EXAMPLES = """\
examples:
  export SHIPPY_TOKEN=$(user-cli login --email ada@example.com --password-stdin <<< "$PASSWORD")
  consignment-cli create consignment.json
  consignment-cli list
  consignment-cli list --json --token "$TOKEN"

A consignment file (protobuf JSON; customerId or customer_id both work;
the repository's consignment.json is one):
  {
    "description": "Bananas for Rotterdam",
    "weight": 12000,
    "containers": [{"customerId": "cust-1", "origin": "Santos"}]
  }

It finds consignment-service through the registry on NATS at NATS_URL
(default nats://127.0.0.1:4222); `make run` starts the whole stack.
"""


def build_cli() -> CommandLine:
    cli = CommandLine(
        PROG, "Create and list Shippy consignments, as the user a token names.", EXAMPLES
    )
    cli.global_option(
        "--token",
        metavar="TOKEN",
        default=None,
        help=f"the token from `user-cli login` (default: ${TOKEN_VARIABLE})",
    )
    create = cli.subcommand(
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

    cli.subcommand(
        "list",
        "list your consignments",
        'consignment-cli list --token "$TOKEN"\n  SHIPPY_TOKEN="$TOKEN" consignment-cli list --json',
        command=_list,
        render=output.consignments,
    )
    return cli


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


main = build_cli().main
"""Runs one command, returns its exit code: the console script `consignment-cli`."""

if __name__ == "__main__":
    sys.exit(main())
