"""One terminal shared by many processes: each line prefixed with its source,

    user-service        | INFO micro.service: registered shippy.user
    email-service       | INFO email_service: welcome mail sent

aligned, and colored per source when the output is a terminal (unless NO_COLOR
is set). Safe to call from many threads.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TextIO

COLORS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
RESET = "\x1b[0m"


class Console:
    def __init__(self, stream: TextIO | None = None, color: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self.width = 0
        self._colors: dict[str, str] = {}
        self._lock = threading.Lock()

    def make_room(self, *sources: str) -> None:
        """Align prefixes to the longest of these source names."""
        self.width = max(self.width, *(len(source) for source in sources))

    def line(self, source: str, text: str) -> None:
        prefix = f"{source:<{self.width}} |"
        with self._lock:
            if self.color:
                code = self._colors.setdefault(source, COLORS[len(self._colors) % len(COLORS)])
                prefix = f"\x1b[{code}m{prefix}{RESET}"
            self.stream.write(f"{prefix} {text}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        """A line of our own, without a prefix."""
        with self._lock:
            self.stream.write(f"{text}\n")
            self.stream.flush()


class ConsoleHandler(logging.Handler):
    """Log records shown as lines of `source`: "devstack.smtp" -> "smtp"."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        source = record.name.removeprefix("devstack.") if record.name != "devstack" else "devstack"
        try:
            self.console.line(source, self.format(record))
        except Exception:
            self.handleError(record)
