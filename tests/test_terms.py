"""A chapter read end to end by someone new leaves nothing unexplained: each
term of docs/terms.py is explained, in bold, where the tutorial first uses it
(the convention is in docs/terms.py's docstring)."""

from __future__ import annotations

from docs import terms
from docs.terms import Term

CHAPTERS = terms.chapters()


def doctored(chapter: str, old: str, new: str) -> list[tuple[str, str]]:
    """The chapters, with one piece of one of them changed."""
    named = dict(CHAPTERS)
    assert old in named[chapter], f"{chapter} no longer has {old!r}: pick another piece"
    named[chapter] = named[chapter].replace(old, new, 1)
    return list(named.items())


def line_of(named: list[tuple[str, str]], chapter: str, piece: str) -> int:
    text = dict(named)[chapter]
    return text.count("\n", 0, text.index(piece)) + 1


def test_every_term_is_explained_where_it_is_first_used() -> None:
    assert terms.unexplained(CHAPTERS) == [], (
        "bold the first use of each term, with what it means in the same sentence or the next"
    )


def test_no_term_is_explained_in_two_chapters() -> None:
    assert terms.explained_twice(CHAPTERS) == [], "bold a term as explained where it is first used"


HEADING = "## The micro core at a glance\n"
USED_EARLY = "Each call goes through a selector."


def test_the_check_fails_when_a_term_is_used_before_its_explanation() -> None:
    """Chapter 1 with a sentence that uses 'selector', which chapter 3 explains."""
    named = doctored("01-contracts.md", HEADING, f"{USED_EARLY}\n\n{HEADING}")

    [problem] = terms.unexplained(named)

    at = line_of(named, "01-contracts.md", USED_EARLY)
    explained_at = line_of(named, "03-discovery.md", "**selector**")
    assert problem == (
        f"docs/01-contracts.md:{at}: 'selector' is first used here without being explained;"
        f" its explanation (**selector**) comes later at docs/03-discovery.md:{explained_at}"
    )


def test_the_check_fails_when_a_term_is_never_explained() -> None:
    named = doctored("03-discovery.md", "A **selector** picks", "A selector picks")

    [problem] = terms.unexplained(named)

    assert problem.endswith("'selector' is first used here and is never explained")
    assert problem.startswith("docs/03-discovery.md:")


def test_the_check_fails_when_a_term_is_explained_in_two_chapters() -> None:
    named = doctored("01-contracts.md", HEADING, f"A **selector** picks a node.\n\n{HEADING}")

    assert terms.unexplained(named) == []
    [problem] = terms.explained_twice(named)
    assert problem.startswith("'selector' is explained in more than one chapter: docs/01-")
    assert "docs/03-discovery.md:" in problem


def test_code_headings_comments_and_link_targets_are_not_uses() -> None:
    chapter = (
        "# 1. A selector\n"
        "\n"
        "<!-- a selector -->\n"
        "```python\n"
        "selector = Selector()\n"
        "```\n"
        "\n"
        "The `selector.py` module, [the docs](selector.md).\n"
        "\n"
        "A **selector** picks one node.\n"
    )
    [use] = terms.uses([("01-one.md", chapter)], [Term("selector")])

    assert (use.where, use.explains) == ("docs/01-one.md:10", True)


def test_a_spelling_means_the_term_of_its_chapter() -> None:
    """'stream' is an RPC's stream in chapter 3, and JetStream's from chapter 6."""
    glossary = [Term("streaming", "stream"), Term("JetStream stream", "stream", since=6)]
    named = [("03-a.md", "An RPC may **stream**."), ("06-b.md", "A **stream** stores.\n")]

    assert terms.unexplained(named, glossary) == []
    assert terms.explained_twice(named, glossary) == []
    assert [(u.where, u.term.name) for u in terms.uses(named, glossary)] == [
        ("docs/03-a.md:1", "streaming"),
        ("docs/06-b.md:1", "JetStream stream"),
    ]


def test_a_term_no_chapter_uses_is_reported() -> None:
    assert terms.unexplained(CHAPTERS, [Term("flux capacitor")]) == [
        "'flux capacitor' is in docs/terms.py, but no chapter uses it"
    ]
