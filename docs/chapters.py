"""The tutorial's chapters as the tests read them: fenced blocks and the
comment line just before each.

Two kinds of block are checked (see docs/include.py and docs/console.py):

    <!-- include: shared/micro/src/micro/pubsub.py#Publisher -->
    ```python
    ...the source region, never pasted by hand...
    ```

    ```console
    $ user-cli login --email ada@example.com --password-stdin <<< 'correct horse battery'
    eyJhbGciOiJFZERTQSIsImtpZCI6...
    ```

A console block that cannot run in a test says why, in the comment before it:
`<!-- not run: make run blocks until Ctrl-C -->`. Any other block (```text,
```mermaid, ```yaml) is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?:<!-- (?P<directive>[a-z ]+): (?P<argument>.*?) -->\n)?"
    r"```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$",
    re.M | re.S,
)
PROMPT = "$ "


@dataclass(frozen=True)
class Block:
    chapter: str
    """The chapter's file name, e.g. `05-events.md`."""
    line: int
    """Where the block's fence opens, 1-based."""
    lang: str
    body: str
    directive: str = ""
    """`include` or `not run`, from the comment before the fence; else empty."""
    argument: str = ""
    body_start: int = 0
    """Offset of the body in the chapter's text, for rewriting it."""

    @property
    def where(self) -> str:
        return f"docs/{self.chapter}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One `$ ` line of a console block, and the output shown under it."""

    line: str
    shown: str


def chapter_files() -> list[Path]:
    """The chapters, in reading order: `docs/NN-name.md`."""
    return sorted(DOCS.glob("[0-9][0-9]-*.md"))


def blocks(text: str, chapter: str) -> Iterator[Block]:
    for match in FENCE.finditer(text):
        yield Block(
            chapter=chapter,
            line=text.count("\n", 0, match.start("lang")) + 1,
            lang=match["lang"],
            body=match["body"],
            directive=match["directive"] or "",
            argument=match["argument"] or "",
            body_start=match.start("body"),
        )


def commands(block: Block) -> list[Command]:
    """The commands of a console block, each with the lines shown after it."""
    found: list[Command] = []
    for line in block.body.splitlines():
        if line.startswith(PROMPT):
            found.append(Command(line.removeprefix(PROMPT), ""))
        elif found:
            found[-1] = Command(found[-1].line, found[-1].shown + line + "\n")
        else:
            raise ValueError(f"{block.where}: a console block starts with a `$ ` line")
    return found
