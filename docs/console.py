"""Running a chapter's shell commands, and comparing what they print with
what the chapter shows.

The `$ ` lines of a chapter's console blocks run in order in one bash, as a
reader types them into one terminal (so `TOKEN=$(...)` carries on to the next
command), in a copy of the checkout whose `var/` is the test stack's. Each
command's stdout and stderr are taken together, as a terminal shows them.

What differs from run to run is masked, in both texts, by the rules in
`MASKS`; a shown line `...` stands for any number of lines.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from docs.chapters import ROOT, Block, Command, commands

MASKS: Sequence[tuple[re.Pattern[str], str]] = (
    (re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+"), "<token>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<event id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z| UTC|[+-]\d\d:\d\d)?"), "<time>"),
    # An RFC 7638 thumbprint: 43 base64url characters, which may begin or end
    # with "-" or "_", where \b finds no word boundary.
    (re.compile(r"(?<![\w-])[\w-]{43}(?![\w-])", re.ASCII), "<key id>"),
    (re.compile(r"\bin \d+\.\d\ds\b"), "in <seconds>"),  # pytest's summary line
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
)
"""Ids, tokens, times, key ids and ports: what a run prints anew each time."""
ELLIPSIS = "..."
"""A shown line that stands for any number of printed lines."""
TIMEOUT = 240.0
"""Seconds one chapter's commands may take together (chapter 9 starts a
three-server NATS cluster)."""


def mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def matches(shown: str, printed: str) -> bool:
    """Whether `printed` is what `shown` shows, once both are masked."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line == ELLIPSIS else re.escape(line) + r"\n"
        for line in mask(shown).splitlines()
    )
    return re.fullmatch(pattern, mask(printed) + "\n" if printed.strip() else "") is not None


@dataclass(frozen=True)
class Outcome:
    block: Block
    command: Command
    printed: str

    @property
    def matches(self) -> bool:
        return matches(self.command.shown, self.printed)

    def explain(self) -> str:
        return (
            f"{self.block.where}: `$ {self.command.line}`\n"
            f"--- the chapter shows (masked):\n{mask(self.command.shown)}\n"
            f"--- the command printed (masked):\n{mask(self.printed)}"
        )


def checkout_copy(workdir: Path, var_dir: Path) -> Path:
    """`workdir` made to look like the checkout after `make run`: each of the
    repo's top-level entries linked in, and `var/` the stack's."""
    for entry in ROOT.iterdir():
        if entry.name != "var":
            (workdir / entry.name).symlink_to(entry)
    (workdir / "var").symlink_to(var_dir)
    return workdir


def run_blocks(blocks: Sequence[Block], cwd: Path, env: Mapping[str, str]) -> list[Outcome]:
    """Every command of `blocks` run in one bash in `cwd`, in order."""
    steps = [(block, command) for block in blocks for command in commands(block)]
    separator = f"--8<-- {uuid.uuid4().hex}"
    script = cwd / ".chapter-commands.sh"
    script.write_text(
        "".join(
            f"printf '\\n%s\\n' '{separator}'\n{{ {command.line}\n}} 2>&1\n" for _, command in steps
        )
    )
    run = subprocess.run(
        ["bash", "--noprofile", "--norc", str(script)],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    printed = run.stdout.split(f"\n{separator}\n")[1:]
    if len(printed) != len(steps):
        raise RuntimeError(f"bash stopped after {len(printed)} of {len(steps)}: {run.stderr}")
    return [
        Outcome(block, command, output)
        for (block, command), output in zip(steps, printed, strict=True)
    ]
