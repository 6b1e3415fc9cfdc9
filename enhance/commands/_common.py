"""What every command shares: exit codes, one-line errors, Ctrl-C and SIGTERM handling.

Light at import (typer only), so ``enhance --help`` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import typer

from ._render import echo

__all__ = [
    "DEBUG_ENV",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "fail",
    "interruptible",
    "terminate_like_interrupt",
    "user_errors",
]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: set (to anything) to let unexpected exceptions through with their traceback
DEBUG_ENV = "ENHANCE_DEBUG"


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    echo(f"enhance: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into one line on stderr and exit code 2.

    Anything else unexpected (a bug, or a failure nobody anticipated) becomes one ``internal error``
    line and exit 1 rather than a traceback, unless ``$ENHANCE_DEBUG`` is set: then it is re-raised
    unchanged. typer's own exits and aborts, SystemExit and KeyboardInterrupt pass through.
    """
    from ..errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise fail(_internal_error(exc), EXIT_SOME_FAILED) from None


def _internal_error(exc: Exception) -> str:
    """``internal error: <Type>: <first line>`` with the way to see the traceback."""
    from ..errors import first_line

    message = first_line(exc, default="(no message)")
    return f"internal error: {type(exc).__name__}: {message} (run with {DEBUG_ENV}=1 for the traceback)"


@contextmanager
def interruptible(message: str) -> Iterator[None]:
    """Turn Ctrl-C inside a long command into ``enhance: <message>`` on stderr and exit 130.

    It must sit inside the command: typer turns a KeyboardInterrupt that leaves a command into a
    silent exit 130 itself, so a handler around ``app()`` never runs.
    """
    try:
        yield
    except KeyboardInterrupt:
        echo(f"enhance: {message}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def terminate_like_interrupt() -> None:
    """Handle SIGTERM (``timeout``, ``docker stop``, a cancelled CI job) as Ctrl-C.

    Python's default for SIGTERM ends the process without unwinding, so no ``finally`` runs: a
    model download would leave its partial file behind and a batch no manifest. As a
    KeyboardInterrupt it takes the Ctrl-C path instead: in-flight writes finish, temp files go,
    the manifest is written, exit 130. Only possible from the main thread (embedders keep theirs).
    """
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    with suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, interrupt)
