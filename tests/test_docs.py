"""The examples in docs/ are complete programs, and they work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLE = re.compile(r"```python\n(# example: (.+?)\n.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return [
        (m.group(2), m.group(1))
        for doc in DOCS.glob("*.md")
        for m in EXAMPLE.finditer(doc.read_text())
    ]


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 2


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_example_runs(name: str, code: str) -> None:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip(), f"example {name!r} printed nothing"
