"""The ``enhance`` command line: assembles the typer app from the commands in :mod:`enhance.commands`.

No logic of its own. Heavy modules (torch, spandrel, cv2) are imported inside the commands, never
at module import, so ``enhance --help`` stays fast.
"""

from __future__ import annotations

import typer

from .commands._common import fail, interruptible, terminate_like_interrupt, user_errors
from .commands.models import models_app
from .commands.pick import pick
from .commands.pipelines import pipelines_app
from .commands.run import run
from .commands.score import score
from .commands.stages import stages

__all__ = ["app", "fail", "interruptible", "main", "terminate_like_interrupt", "user_errors"]

app = typer.Typer(
    name="enhance",
    help="Restore detail in AI-generated images: deband, resize, super-resolve and score, on whole folders.",
    epilog=(
        "Exit codes: 0 every file done (or skipped as already done); 1 some files failed (each said in one "
        "line, the others done); 2 bad usage or configuration, before any image is read; 130 interrupted "
        "(Ctrl-C or SIGTERM: finished outputs and their records are kept, a rerun resumes)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run)
app.add_typer(pipelines_app, name="pipelines")
app.command("stages")(stages)
app.add_typer(models_app, name="models")
app.command("score")(score)
app.command("pick")(pick)


def main() -> None:
    """Console-script entry point."""
    terminate_like_interrupt()
    app()
