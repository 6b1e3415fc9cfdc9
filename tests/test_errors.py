"""Error messages: the first line of an exception, a user's text quoted briefly and escaped, and a
ConfigError always one short line."""

from __future__ import annotations

from enhance.errors import MAX_MESSAGE, ConfigError, first_line, printable, quote, shorten


def test_quote_shortens_long_values_and_says_how_long() -> None:
    text = quote("x" * 50_000_000)
    assert len(text) < 120 and text.startswith("'xxx") and text.endswith("…' (50000000 characters)")
    assert quote(b"\0" * 1000).endswith("(1000 bytes)")
    assert quote("short") == "'short'" and quote(42) == "42" and quote(None) == "None"


def test_quote_is_bounded_on_big_containers_and_numbers() -> None:
    nested = ["lol"] * 9
    for _ in range(8):  # 9^9 strings if walked whole; shared references, so cheap to build
        nested = [nested] * 9
    assert len(quote(nested)) <= 80
    assert quote(10**5000) == "<an integer of 16610 bits>"  # str() would be refused past 4300 digits
    assert len(quote({f"k{i}": "v" * 100 for i in range(1000)})) <= 80


def test_control_characters_are_escaped() -> None:
    assert printable("a\x1b[2Jb\nc\u202ed") == "a\\x1b[2Jb\\nc\\u202ed"
    assert printable("café 中文") == "café 中文"
    assert "\x1b" not in quote("\x1b]0;title\x07") and "\n" not in quote(["a\nb"])


def test_shorten_keeps_start_and_end() -> None:
    text = shorten("start" + "-" * 1000 + "end", 50)
    assert len(text) == 50 and text.startswith("start") and text.endswith("end") and "…" in text


def test_config_error_is_one_bounded_line() -> None:
    message = str(ConfigError("file.yaml: bad\nvalue " + "z" * 100_000 + " do this"))
    assert "\n" not in message and len(message) <= MAX_MESSAGE
    assert message.startswith("file.yaml: bad\\nvalue") and message.endswith(" do this")


def test_first_line_of_a_message() -> None:
    assert first_line(ValueError("  bad thing\nmore detail\n")) == "bad thing"
    assert first_line(ValueError("\n\n  after blank lines\nrest")) == "after blank lines"


def test_an_empty_message_gives_the_type_or_the_default() -> None:
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("   \n  ")) == "ValueError"
    assert first_line(ValueError(""), default="(no message)") == "(no message)"


def test_limit_cuts_a_long_line() -> None:
    assert first_line(OSError("x" * 500), limit=160) == "x" * 160
