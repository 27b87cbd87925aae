"""Code in the chapters comes from the real source files.

`<!-- include: PATH -->` before a fenced block shows the whole file;
`PATH#NAME` shows one region of it:

- the lines between `# [docs:NAME]` and `# [/docs:NAME]` (`//` in a .proto),
  for a part of a function or a few statements together; or, without markers,
- the top-level function or class NAME (`PATH#Class.method` for a method),
  decorators and all, found with `ast`: no marker needed.

The region is shown dedented, with no marker lines. `tests/test_docs.py` fails
when a block differs from its region; to refresh every block after changing
the code, run

    python -m docs.include --write
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

from docs.chapters import ROOT, Block, blocks, chapter_files

MARKER = re.compile(r"^\s*(?:#|//) \[/?docs:[\w-]+\]\s*$")


class IncludeError(ValueError):
    """An include names no file, or no region in it."""


def region(argument: str, root: Path = ROOT) -> str:
    """The text `<!-- include: argument -->` stands for."""
    path, _, name = argument.partition("#")
    try:
        source = (root / path).read_text()
    except FileNotFoundError:
        raise IncludeError(f"include: no file {path}") from None
    if not name:
        return source
    text = marked(source, name)
    if text is None and path.endswith(".py"):
        text = definition(source, name)
    if text is None:
        raise IncludeError(f"include: {path} has no marker [docs:{name}] and no definition {name}")
    return text


def marked(source: str, name: str) -> str | None:
    """The lines between `[docs:name]` and `[/docs:name]`, dedented."""
    lines = source.splitlines(keepends=True)
    opening = re.compile(rf"^\s*(?:#|//) \[docs:{re.escape(name)}\]\s*$")
    closing = re.compile(rf"^\s*(?:#|//) \[/docs:{re.escape(name)}\]\s*$")
    start = next((i for i, line in enumerate(lines) if opening.match(line)), None)
    if start is None:
        return None
    end = next((i for i in range(start, len(lines)) if closing.match(lines[i])), None)
    if end is None:
        raise IncludeError(f"include: [docs:{name}] is never closed")
    inside = [line for line in lines[start + 1 : end] if not MARKER.match(line)]
    return textwrap.dedent("".join(inside))


def definition(source: str, dotted: str) -> str | None:
    """The source of the function or class `dotted` (`Name` or `Class.method`)."""
    body: list[ast.stmt] = ast.parse(source).body
    node: ast.stmt | None = None
    for part in dotted.split("."):
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    assert node is not None
    assert node.end_lineno is not None
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    lines = source.splitlines(keepends=True)[first - 1 : node.end_lineno]
    return textwrap.dedent("".join(lines))


def stale(text: str, chapter: str, root: Path = ROOT) -> list[tuple[Block, str]]:
    """The include blocks of a chapter that differ from their region, each with
    the text it should have."""
    return [
        (block, wanted)
        for block in blocks(text, chapter)
        if block.directive == "include" and block.body != (wanted := region(block.argument, root))
    ]


def refreshed(text: str, chapter: str) -> str:
    """The chapter with every include block set to its region."""
    for block, wanted in reversed(stale(text, chapter)):
        end = block.body_start + len(block.body)
        text = text[: block.body_start] + wanted + text[end:]
    return text


def main(argv: list[str]) -> int:
    write = "--write" in argv
    differing = 0
    for path in chapter_files():
        text = path.read_text()
        for block, _ in stale(text, path.name):
            differing += 1
            print(f"{block.where}: differs from {block.argument}")
        if write:
            path.write_text(refreshed(text, path.name))
    if differing and write:
        print(f"refreshed {differing} block(s)")
    return 1 if differing and not write else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
