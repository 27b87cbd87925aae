"""Where a password comes from: `--password`, one line of stdin, or a hidden prompt.

A password is never echoed, printed or logged.
"""

from __future__ import annotations

import getpass
from typing import TextIO

from shippy_kit.cli import USAGE_ERROR, CliError

PASSWORD_REQUIRED = "password required: use --password or --password-stdin"


def read_password(
    *,
    given: str | None,
    from_stdin: bool,
    stdin: TextIO,
    confirm: bool = False,
) -> str:
    """The password of `--password P`, else of `--password-stdin`, else typed
    at a prompt (twice when `confirm`) if stdin is a terminal."""
    if given is not None:
        return given
    if from_stdin:
        return _first_line(stdin)
    if stdin.isatty():
        return _prompt(confirm=confirm)
    raise CliError(PASSWORD_REQUIRED, USAGE_ERROR)


def _first_line(stdin: TextIO) -> str:
    line = stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise CliError("--password-stdin: no password on stdin", USAGE_ERROR)
    return password


def _prompt(*, confirm: bool) -> str:
    try:
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Repeat password: ") != password:
            raise CliError("the two passwords differ", USAGE_ERROR)
    except EOFError:  # Ctrl-D at the prompt
        raise CliError("no password given", USAGE_ERROR) from None
    return password
