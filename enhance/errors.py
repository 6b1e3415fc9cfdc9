"""Exceptions that carry a message a person can act on.

The CLI maps them to exit codes: :class:`ConfigError` (and its subclasses) is a usage or
configuration problem, exit 2, raised before any image is touched; :class:`InputError` is one bad
input file, reported in one line while the batch goes on (exit 1 at the end).
"""

from __future__ import annotations

__all__ = [
    "EnhanceError",
    "ConfigError",
    "InputError",
    "StageUnavailableError",
    "ImageFormatError",
    "Cancelled",
    "first_line",
]


class EnhanceError(Exception):
    """Base class of every error enhance raises on purpose (never a bug)."""


class ConfigError(EnhanceError):
    """Bad usage, pipeline file, parameter, device or missing model: fix it and run again (exit 2)."""


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
