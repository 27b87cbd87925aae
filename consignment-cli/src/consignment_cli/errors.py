"""The one kind of error consignment-cli prints itself, with its exit code."""

from __future__ import annotations

SERVICE_ERROR = 1
USAGE_ERROR = 2


class CliError(Exception):
    """Printed as one line, `consignment-cli: <message>`; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = SERVICE_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
