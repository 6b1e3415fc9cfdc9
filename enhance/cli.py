"""The ``enhance`` command line: parses arguments, calls the library, prints. No logic of its own.

Heavy modules (torch, spandrel, cv2) are imported inside the commands, never at module import,
so ``enhance --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

__all__ = ["app", "fail", "main", "user_errors"]

app = typer.Typer(
    name="enhance",
    help="Restore detail in AI-generated images: deband, resize, super-resolve and score, on whole folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    typer.echo(f"enhance: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into one line on stderr and exit code 2."""
    from .errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise fail(str(exc)) from None


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("enhance: interrupted; finished outputs are kept, rerun to do the rest", err=True)
        sys.exit(130)


from .commands.models import models_app  # noqa: E402  (sub-apps import fail/user_errors from here)

app.add_typer(models_app, name="models")
