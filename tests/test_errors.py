"""One-line error reports: the first line of an exception's message."""

from __future__ import annotations

from enhance.errors import first_line


def test_first_line_of_a_message() -> None:
    assert first_line(ValueError("  bad thing\nmore detail\n")) == "bad thing"
    assert first_line(ValueError("\n\n  after blank lines\nrest")) == "after blank lines"


def test_an_empty_message_gives_the_type_or_the_default() -> None:
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("   \n  ")) == "ValueError"
    assert first_line(ValueError(""), default="(no message)") == "(no message)"


def test_limit_cuts_a_long_line() -> None:
    assert first_line(OSError("x" * 500), limit=160) == "x" * 160
