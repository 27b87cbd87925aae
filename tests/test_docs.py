"""The tutorial (docs/NN-*.md) shows the code as it is and the commands as they run.

Each chapter's included code must equal its source region (docs/include.py;
`python -m docs.include --write` refreshes it), and each command it tells the
reader to run is run, in order, against the stack `make run` starts (the
`local_stack` fixture, shared with tests/integration), its output compared
with what the chapter shows (docs/console.py masks ids, tokens, times and
ports). A console block that cannot run here says why in the chapter, and
shows up below as a skip with that reason. `make docs-test` runs this file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from devstack.stack import LocalStack

from docs import console, include
from docs.chapters import Block, blocks, chapter_files

CHAPTERS = chapter_files()
RunBlocks = Callable[[Sequence[Block]], list[console.Outcome]]


def all_blocks() -> list[Block]:
    return [block for path in CHAPTERS for block in blocks(path.read_text(), path.name)]


def console_blocks(directive: str) -> list[Block]:
    return [b for b in all_blocks() if b.lang == "console" and b.directive == directive]


def test_the_tutorial_has_its_nine_chapters() -> None:
    assert len(CHAPTERS) == 9, [path.name for path in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_the_included_code_is_the_source(chapter: Path) -> None:
    stale = include.stale(chapter.read_text(), chapter.name)

    assert [f"{block.where} ({block.argument})" for block, _ in stale] == [], (
        "these blocks differ from their source: python -m docs.include --write"
    )


def test_a_command_shown_to_the_reader_is_in_a_console_block() -> None:
    """Commands in ```sh or ```bash would escape the check; a console block
    either runs or says why not."""
    unchecked = [b.where for b in all_blocks() if b.lang in ("sh", "bash", "shell")]
    unexplained = [b.where for b in console_blocks("not run") if not b.argument.strip()]

    assert unchecked == [], "use ```console with `$ ` lines"
    assert unexplained == [], "a block that is not run says why"


@pytest.mark.parametrize("block", console_blocks("not run"), ids=lambda block: block.where)
def test_a_block_that_is_not_run_says_why(block: Block) -> None:
    pytest.skip(f"{block.where} is not run: {block.argument}")


@pytest.fixture(scope="module")
def run_blocks(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> RunBlocks:
    """Runs console blocks as a reader would after `make run`: in a copy of the
    checkout whose var/ is the stack's, NATS_URL set, the CLIs on PATH."""
    workdir = console.checkout_copy(tmp_path_factory.mktemp("checkout"), local_stack.var_dir)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MICRO_", "DATABASE_", "SHIPPY_", "VIRTUAL_ENV"))
        },
        "NATS_URL": local_stack.nats_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return lambda chosen: console.run_blocks(chosen, workdir, env)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_the_commands_print_what_the_chapter_shows(chapter: Path, run_blocks: RunBlocks) -> None:
    runnable = [
        b
        for b in blocks(chapter.read_text(), chapter.name)
        if b.lang == "console" and not b.directive
    ]
    if not runnable:
        pytest.skip(f"{chapter.name} tells the reader to run nothing here")

    differing = [outcome.explain() for outcome in run_blocks(runnable) if not outcome.matches]

    assert differing == [], "\n\n".join(differing)


DOCTORED = """\
# A chapter

<!-- include: shared/micro/src/micro/codec.py#{name} -->
```python
{code}```

```console
$ echo shipped 3f2a6c1e-0b7d-4e8a-9c2f-1d5e7a9b0c3d at 2026-01-01T00:00:00Z
{shown}
```
"""


def doctored(code: str = "", shown: str = "") -> tuple[str, str]:
    """A chapter including micro.codec's `codec_for`, as it is unless `code`
    replaces it, and a command whose output is shown as it is unless `shown` replaces it."""
    name = "codec_for"
    text = DOCTORED.format(
        name=name,
        code=code or include.region(f"shared/micro/src/micro/codec.py#{name}"),
        shown=shown or "shipped 00000000-0000-4000-8000-000000000000 at 2027-12-31T23:59:59Z",
    )
    return text, "doctored.md"


def test_the_check_fails_when_included_code_differs_from_the_source() -> None:
    as_it_is = doctored()
    changed = doctored(code="def codec_for(content_type):\n    return None\n")

    assert include.stale(*as_it_is) == []
    [(block, _)] = include.stale(*changed)
    assert block.argument == "shared/micro/src/micro/codec.py#codec_for"
    assert include.stale(include.refreshed(*changed), "doctored.md") == []


def test_the_check_fails_when_the_shown_output_differs(run_blocks: RunBlocks) -> None:
    """The same command, its output shown once as printed (ids and times masked)
    and once as it is not."""
    as_it_is = [b for b in blocks(*doctored()) if b.lang == "console"]
    changed = [b for b in blocks(*doctored(shown="shipped nothing")) if b.lang == "console"]

    [printed_as_shown] = run_blocks(as_it_is)
    [printed_otherwise] = run_blocks(changed)

    assert printed_as_shown.matches
    assert not printed_otherwise.matches
    assert "shipped nothing" in printed_otherwise.explain()


@pytest.mark.parametrize(
    ("shown", "printed", "matches"),
    [
        (
            "created user 3f2a6c1e-0b7d-4e8a-9c2f-1d5e7a9b0c3d\n",
            "created user 00000000-0000-4000-8000-000000000000\n",
            True,
        ),
        ("eyJhbGciOi.eyJzdWIi.c2ln\n", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.AbC-_d\n", True),
        ("serving at 127.0.0.1:50051\n", "serving at 127.0.0.1:39211\n", True),
        ("first\n...\nlast\n", "first\nsecond\nthird\nlast\n", True),
        ("first\n...\nlast\n", "first\nlast\n", True),
        ("created user 1\n", "created user 2\n", False),
        ("", "something\n", False),
        ("something\n", "", False),
    ],
)
def test_what_the_masks_hide(shown: str, printed: str, matches: bool) -> None:
    assert console.matches(shown, printed) is matches
