"""A command-line client of the stack: subcommands that each make one call.

    cli = CommandLine("user-cli", "Create Shippy users.", EXAMPLES)
    get = cli.subcommand("get", "show one user", "user-cli get ID", command=_get, render=_user)
    get.add_argument("id")

    main = cli.main     # the console script: `user-cli = "user_cli.main:main"`

Every command takes --json and --timeout, before or after the subcommand.
A command is `(args, options) -> coroutine of the reply`; it reaches the stack
with `connect(options)`, and a call that needs the user's token sends
`metadata=bearer(token)` (shippy_kit.auth). Exit codes: 0 done; 1 the stack answered with an
error or could not be reached; 2 the command line was wrong (nothing was
sent). An error is one line on stderr, `<prog>: <message>`, never a traceback.
A reply is printed by the subcommand's `render` (`table` lays rows out), or
with --json by `as_json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import nats
import nats.errors
from google.protobuf import json_format
from google.protobuf.message import Message
from micro.client import Client
from micro.config import NO_LOGIN, ConfigError, NatsLogin, Options
from micro.errors import MicroError, ServiceNotFound
from micro.nats_client import failure_reason, login_options, redacted, refused_login, servers

SERVICE_ERROR = 1
USAGE_ERROR = 2
INTERRUPTED = 130
STACK_HINT = "is the stack running? (make run)"
NATS_CONNECT_TIMEOUT = 2.0

Command = Callable[[argparse.Namespace, Options], Coroutine[Any, Any, Message]]
Render = Callable[[Any], str]


class CliError(Exception):
    """Printed as one line, `<prog>: <message>`; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = SERVICE_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class CommandLine:
    def __init__(self, prog: str, description: str, examples: str) -> None:
        self.prog = prog
        self.parser = argparse.ArgumentParser(
            prog=prog,
            description=description,
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self._global_options: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self._subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None
        self.global_option(
            "--json",
            action="store_true",
            default=False,
            help="print the reply as JSON (protobuf's JSON mapping), for scripts",
        )
        self.global_option(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            default=None,
            help="how long to wait for the service (default: MICRO_CLIENT_TIMEOUT, or 5)",
        )

    def global_option(self, *flags: str, **kwargs: Any) -> None:
        """An option every subcommand takes too; add them before the subcommands."""
        self.parser.add_argument(*flags, **kwargs)
        self._global_options.append((flags, kwargs))

    def subcommand(
        self, name: str, summary: str, examples: str, *, command: Command, render: Render
    ) -> argparse.ArgumentParser:
        if self._subcommands is None:
            self._subcommands = self.parser.add_subparsers(metavar="COMMAND", required=True)
        parser = self._subcommands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"example:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for flags, kwargs in self._global_options:
            # SUPPRESS: a value given before the subcommand is not overwritten
            # by the subcommand's default.
            parser.add_argument(*flags, **{**kwargs, "default": argparse.SUPPRESS})
        parser.set_defaults(command=command, render=render)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run one command; returns the exit code (the console script exits with it)."""
        try:
            args = self.parser.parse_args(argv)
        except SystemExit as exit:  # --help, or a usage error argparse has printed
            return exit.code if isinstance(exit.code, int) else USAGE_ERROR
        _keep_library_logs_quiet()
        try:
            options = _options(args)
            reply = asyncio.run(args.command(args, options))
        except CliError as error:
            return self._fail(error.message, error.exit_code)
        except MicroError as error:
            return self._fail(describe(error), SERVICE_ERROR)
        except ConfigError as error:
            return self._fail(str(error), USAGE_ERROR)
        except KeyboardInterrupt:
            return INTERRUPTED
        except Exception as error:  # a bug, or a failure nobody foresaw: still one line
            return self._fail(f"unexpected error: {type(error).__name__}: {error}", SERVICE_ERROR)
        render: Render = as_json if args.json else args.render
        print(render(reply))
        return 0

    def _fail(self, message: str, exit_code: int) -> int:
        print(f"{self.prog}: {message}", file=sys.stderr)
        return exit_code


@asynccontextmanager
async def connect(options: Options) -> AsyncIterator[Client]:
    """A client that finds services by name, once NATS is known to answer."""
    if options.registry == "nats":
        await check_nats(options.nats_url, login=options.nats_login)
    async with Client.connect(options) as client:
        yield client


async def check_nats(
    url: str, *, login: NatsLogin = NO_LOGIN, connect_timeout: float = NATS_CONNECT_TIMEOUT
) -> None:
    """Fail at once, in one line, when nothing answers at `url`.

    nats-py's defaults retry an unreachable server for two minutes, logging
    a traceback each time: right for a service, wrong for a command. A
    refused login says "authorization violation", not that nothing answers."""
    failures: list[Exception] = []

    async def collect(error: Exception) -> None:  # each failed attempt; raised below
        failures.append(error)

    try:
        connection = await nats.connect(
            servers(url),
            allow_reconnect=False,
            max_reconnect_attempts=1,  # nats-py's least; 0 would mean "forever"
            reconnect_time_wait=0,
            connect_timeout=connect_timeout,
            error_cb=collect,
            **login_options(login),
        )
    except (nats.errors.Error, OSError, TimeoutError) as error:
        if any(refused_login(f) for f in [*failures, error]):
            reason = failure_reason([*failures, error])
            raise CliError(f"NATS at {redacted(url)}: {reason}") from error
        raise CliError(f"cannot reach NATS at {redacted(url)}: {STACK_HINT}") from error
    await connection.close()


def describe(error: MicroError) -> str:
    """The line to print for an error the stack answered with."""
    if isinstance(error, ServiceNotFound):
        return f"{error} — {STACK_HINT}"
    return str(error)


def as_json(reply: Message) -> str:
    """The reply in protobuf's JSON mapping (camelCase names), every field shown."""
    return json.dumps(
        json_format.MessageToDict(reply, always_print_fields_with_no_presence=True), indent=2
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """`rows` under `headers`, each column as wide as its widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(f"{cell:<{width}}" for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
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


def _keep_library_logs_quiet() -> None:
    """Library warnings would reach stderr through logging's last resort;
    a command prints its own one-line errors instead."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
