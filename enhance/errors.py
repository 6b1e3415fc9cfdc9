"""Exceptions that carry a message a person can act on.

The CLI maps them to exit codes: :class:`ConfigError` (and its subclasses) is a usage or
configuration problem, exit 2, raised before any image is touched; :class:`InputError` is one bad
input file, reported in one line while the batch goes on (exit 1 at the end).
"""

from __future__ import annotations

import reprlib

__all__ = [
    "MAX_MESSAGE",
    "Cancelled",
    "ConfigError",
    "EnhanceError",
    "ImageFormatError",
    "InputError",
    "StageUnavailableError",
    "first_line",
    "printable",
    "quote",
    "shorten",
]


class EnhanceError(Exception):
    """Base class of every error enhance raises on purpose (never a bug)."""


class ConfigError(EnhanceError):
    """Bad usage, pipeline file, parameter, device or missing model: fix it and run again (exit 2).

    The message is always one line of at most :data:`MAX_MESSAGE` characters: characters that are
    not printable are escaped and an overlong message is cut in the middle, so no value from a
    file or the command line can break or flood the one-line error, wherever it was quoted.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(shorten(printable(str(message)), MAX_MESSAGE), *args)


class StageUnavailableError(ConfigError):
    """A pipeline names a stage that is known but cannot be loaded here (not built yet, or a
    missing optional dependency)."""


class InputError(EnhanceError):
    """One input file cannot be processed (unreadable, truncated, not an image...).

    The message names the file, what is wrong and what to do; the batch skips it and goes on.
    """


class ImageFormatError(EnhanceError, ValueError):
    """An in-memory image (numpy array, tensor, PIL image) that enhance cannot take: wrong rank,
    channel count, dtype or layout, or a shape that fits two layouts.

    Raised in one place, :mod:`enhance.convert`, by stages, ops and pipelines alike; the message names
    the shape and dtype received and the shapes accepted. A ``ValueError``, so code that caught the
    earlier errors keeps working.
    """


class Cancelled(EnhanceError):
    """The caller cancelled a long call (a ``cancel`` callable returned True or a
    ``threading.Event`` was set). Raised between tile batches, after the memory the call held was
    released; nothing is returned and nothing was written."""


def first_line(exc: BaseException, *, default: str | None = None, limit: int | None = None) -> str:
    """The first line of ``exc``'s message, for one-line reports of an error.

    Args:
        default: what to return for an empty message (default: the exception's type name).
        limit: cut the line to this many characters (decoders can put whole buffers in a message).
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if limit is not None:
        line = line[:limit]
    return line or (type(exc).__name__ if default is None else default)


#: the longest a ConfigError's message may be, in characters: room for two paths at PATH_MAX
#: (messages about outputs name them whole), no room for a flood (a 50 MB value, an expanded alias)
MAX_MESSAGE = 10_000
#: how many characters of a user's value a message quotes
QUOTE_LIMIT = 80


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped the way Python's ``repr`` does.

    Line breaks, control characters (terminal escape sequences included), bidirectional overrides
    and other invisible characters become ``\\n``, ``\\x1b``, ``\\u202e``..., so a message stays on
    one line and shows what is really there.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters by an ellipsis in the middle (the start says
    where, the end usually what to do)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


class _BoundedRepr(reprlib.Repr):
    """``reprlib``'s bounded repr (it walks only the first few items of each container and a few
    levels) with the few cases it still renders whole made bounded too."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4 * self.maxlong:  # str() of a huge int is slow, or refused past 4300 digits
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_str(self, x: str | bytes, level: int) -> str:
        text = repr(x[: self.maxstring])  # cut before rendering: a 50 MB value costs nothing
        return text if len(x) <= self.maxstring else f"{text[:-1]}…{text[-1]}"

    repr_bytes = repr_str


_repr = _BoundedRepr()
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdict = 6
_repr.maxstring = 24  # inside containers; a value quoted alone gets the whole limit
_repr.maxother = _repr.maxlong = 40


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A user's value for a message: its ``repr``, on one line, at most ``limit`` characters.

    The work is bounded as well as the result: a container is not walked past its first few items
    and levels, a long string is cut before it is rendered.
    """
    if not isinstance(value, (str, bytes)):
        return shorten(printable(_repr.repr(value)), limit)
    if len(value) <= limit:
        return shorten(printable(repr(value)), limit + 2)  # the quotes are not the value
    text = repr(value[: max(limit - 3, 1)])
    unit = "characters" if isinstance(value, str) else "bytes"
    return f"{shorten(printable(text[:-1]), limit - 2)}…{text[-1]} ({len(value)} {unit})"
