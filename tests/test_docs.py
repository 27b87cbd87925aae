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
from docs.chapters import DOCS, Block, blocks, chapter_files, commands

CHAPTERS = chapter_files()
RunBlocks = Callable[[Sequence[Block]], list[console.Outcome]]


def all_blocks() -> list[Block]:
    return [block for path in CHAPTERS for block in blocks(path.read_text(), path.name)]


def runnable_blocks(text: str, chapter: str) -> list[Block]:
    """The console blocks of a chapter that the tests run."""
    return [b for b in blocks(text, chapter) if b.lang == "console" and not b.directive]


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


def test_each_example_program_is_shown_and_run_by_a_chapter() -> None:
    examples = sorted(
        str(path.relative_to(DOCS.parent)) for path in (DOCS / "examples").glob("*.py")
    )
    shown = {b.argument for b in all_blocks() if b.directive == "include"}
    run = {c.line for b in console_blocks("") for c in commands(b)}

    assert [e for e in examples if e not in shown] == [], "examples no chapter shows"
    ran = [e for e in examples if any(line.endswith(f"python {e}") for line in run)]
    assert sorted(set(examples) - set(ran)) == [], "examples no chapter runs"


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


@pytest.mark.timeout(console.TIMEOUT + 60)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_the_commands_print_what_the_chapter_shows(chapter: Path, run_blocks: RunBlocks) -> None:
    runnable = runnable_blocks(chapter.read_text(), chapter.name)
    if not runnable:
        pytest.skip(f"{chapter.name} tells the reader to run nothing here")

    differing = [outcome.explain() for outcome in run_blocks(runnable) if not outcome.matches]

    assert differing == [], "\n\n".join(differing)


FIRST_CHAPTER = CHAPTERS[0]


def doctored(old: str, new: str) -> tuple[str, str]:
    """Chapter 1 with one piece of it changed, and its name."""
    text = FIRST_CHAPTER.read_text()
    assert old in text, f"{FIRST_CHAPTER.name} no longer has {old!r}: pick another piece"
    return text.replace(old, new, 1), FIRST_CHAPTER.name


def test_the_check_fails_when_included_code_differs_from_the_source() -> None:
    """Chapter 1 with a line of its included example changed by hand."""
    text, name = doctored('print("found", reply.vessel.name)', 'print("found", "the Titanic")')

    [(block, wanted)] = include.stale(text, name)

    assert block.argument == "docs/examples/service_by_name.py"
    assert 'print("found", reply.vessel.name)' in wanted
    assert include.stale(include.refreshed(text, name), name) == []


def test_the_check_fails_when_the_shown_output_differs(run_blocks: RunBlocks) -> None:
    """Chapter 1's command, with its output as the chapter shows it and doctored:
    the program prints the same both times, and only the first matches."""
    as_it_is = run_blocks(runnable_blocks(FIRST_CHAPTER.read_text(), FIRST_CHAPTER.name))
    changed = run_blocks(
        runnable_blocks(*doctored("found Boaty McBoatface\n", "found the Titanic\n"))
    )

    assert [outcome.matches for outcome in as_it_is] == [True]
    assert [outcome.matches for outcome in changed] == [False]
    assert changed[0].printed == as_it_is[0].printed
    assert "found the Titanic" in changed[0].explain()


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
        (f"kid {'A' * 43}\n", "kid -Y11QJvCd4WXi9dwMrwteRyKxk-Io4I4BDmH57Qv78c\n", True),
        (f"'kid': '{'A' * 43}'\n", f"'kid': '{'b' * 42}_'\n", True),
        (f"kid {'A' * 43}\n", f"kid {'A' * 44}\n", False),
        ("first\n...\nlast\n", "first\nsecond\nthird\nlast\n", True),
        ("first\n...\nlast\n", "first\nlast\n", True),
        ("created user 1\n", "created user 2\n", False),
        ("", "something\n", False),
        ("something\n", "", False),
    ],
)
def test_what_the_masks_hide(shown: str, printed: str, matches: bool) -> None:
    assert console.matches(shown, printed) is matches
