"""The ``enhance`` command line: parses arguments, calls the library, prints. No logic of its own.

Heavy modules (torch, spandrel, cv2) are imported inside the commands, never at module import,
so ``enhance --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["app", "fail", "interruptible", "main", "terminate_like_interrupt", "user_errors"]

app = typer.Typer(
    name="enhance",
    help="Restore detail in AI-generated images: deband, resize, super-resolve and score, on whole folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: set (to anything) to let unexpected exceptions through with their traceback
DEBUG_ENV = "ENHANCE_DEBUG"


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    typer.echo(f"enhance: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into one line on stderr and exit code 2.

    Anything else unexpected (a bug, or a failure nobody anticipated) becomes one ``internal error``
    line and exit 1 rather than a traceback, unless ``$ENHANCE_DEBUG`` is set: then it is re-raised
    unchanged. typer's own exits and aborts, SystemExit and KeyboardInterrupt pass through.
    """
    from .errors import ConfigError

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
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else "(no message)"
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
        typer.echo(f"enhance: {message}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def main() -> None:
    """Console-script entry point."""
    terminate_like_interrupt()
    app()


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


# -- enhance run -------------------------------------------------------------------------------


@app.command()
def run(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files and/or folders.", show_default=False, metavar="INPUT...")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder; mirrors the input tree.")],
    pipeline: Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline name in the pipelines file.")] = (
        "restore-4k"
    ),
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Pipelines file (default: ./pipelines.yaml, then built-in).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a setting: STAGE.PARAM=VALUE, STAGE[K].PARAM=VALUE, N.PARAM=VALUE, output.FIELD=VALUE.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the pipeline's).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    glob: Annotated[str | None, typer.Option(help="Only files whose name or relative path matches.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Redo files whose output exists (default: skip them).")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and list what would be done; write nothing.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Decode/encode threads.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Run a pipeline over files and folders: writes outputs, manifest.json (and reports when scored)."""
    import time

    from .batch import run_batch
    from .config import default_config_path
    from .pipeline import Pipeline

    with user_errors():
        config_path = config or default_config_path()
        pipe = Pipeline.from_yaml(config_path, pipeline, overrides=overrides or (), device=device)
        if dry_run:
            _dry_run(pipe, inputs, output, config_path, recursive=recursive, pattern=glob, overwrite=overwrite)
            return
        start = time.perf_counter()
        with interruptible("interrupted; finished outputs are kept, rerun to do the rest"):
            result = run_batch(
                pipe,
                inputs,
                output,
                recursive=recursive,
                pattern=glob,
                overwrite=overwrite,
                jobs=jobs,
                progress=not quiet and sys.stderr.isatty(),
                echo=lambda line: typer.echo(f"enhance: {line}", err=True),
                config=config_path,
            )
    if not quiet:
        s = result.summary
        typer.echo(
            f"{s['done']} done, {s['skipped']} skipped, {s['failed']} failed ({s['total']} files) "
            f"in {time.perf_counter() - start:.1f} s → {result.manifest_path}",
            err=True,
        )
    raise typer.Exit(result.exit_code)


def _dry_run(
    pipe: Pipeline,
    inputs: list[Path],
    output: Path,
    config_path: Path,
    *,
    recursive: bool,
    pattern: str | None,
    overwrite: bool,
) -> None:
    """Check what a run would check before any image (device, inputs, outputs) and list the plan.

    Models are not loaded (so nothing is downloaded); a missing model shows only in a real run.
    """
    from .batch import collect_jobs
    from .devices import resolve_device

    device = resolve_device(pipe.device_spec)
    planned = collect_jobs(inputs, output, pipe.output, recursive=recursive, pattern=pattern)
    typer.echo(f"pipeline '{pipe.name}' from {config_path}: {' → '.join(s.name for s in pipe.stages)}")
    typer.echo(f"device {device}; models are not loaded in a dry run (nothing downloaded)")
    for job in planned:
        state = "exists, skip" if job.destination.exists() and not overwrite else "to do"
        typer.echo(f"  {job.source} → {job.destination} ({state})")
    typer.echo(f"{len(planned)} file(s); dry run, nothing written")


# -- enhance pipelines ... ---------------------------------------------------------------------

pipelines_app = typer.Typer(help="List, show and validate the pipelines in a pipelines file.", no_args_is_help=True)
app.add_typer(pipelines_app, name="pipelines")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Pipelines file.")]


@pipelines_app.command("list")
def pipelines_list(config: ConfigOption = None) -> None:
    """Each pipeline with its stages and description."""
    from .config import load_pipelines
    from .errors import ConfigError, printable

    with user_errors():
        found = load_pipelines(config)
    for name, spec in found.items():
        if isinstance(spec, ConfigError):
            typer.echo(f"{printable(name)}  (invalid: {spec})")
        else:
            typer.echo(printable(f"{name}  [{' → '.join(s.name for s in spec.stages)}]  {spec.description}"))


@pipelines_app.command("show")
def pipelines_show(name: Annotated[str, typer.Argument(help="Pipeline name.")], config: ConfigOption = None) -> None:
    """One pipeline with every parameter resolved (defaults included), as YAML."""
    import yaml

    from .config import load_pipeline_spec

    with user_errors():
        spec = load_pipeline_spec(config, name)
    body = {
        "description": spec.description,
        "device": spec.device,
        "seed": spec.seed,
        "output": spec.output.model_dump(),
        "stages": [{s.name: s.params.model_dump(mode="json")} for s in spec.stages],
    }
    typer.echo(f"# {spec.source}")
    typer.echo(yaml.safe_dump({name: body}, sort_keys=False, allow_unicode=True).rstrip())


@pipelines_app.command("validate")
def pipelines_validate(
    names: Annotated[list[str] | None, typer.Argument(help="Pipelines to check (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Check pipelines without touching any image; exit 2 when one is invalid."""
    from .config import load_pipelines, no_such_pipeline
    from .errors import ConfigError, printable

    with user_errors():
        found = load_pipelines(config)
    bad = 0
    for name in names or list(found):
        spec = found.get(name)
        if spec is None:
            typer.echo(f"invalid: {no_such_pipeline(config, name, found)}", err=True)
            bad += 1
        elif isinstance(spec, ConfigError):
            typer.echo(f"invalid: {spec}", err=True)
            bad += 1
        else:
            typer.echo(f"ok: {printable(name)} ({len(spec.stages)} stages)")
    if bad:
        raise typer.Exit(EXIT_USAGE)


# -- enhance stages ----------------------------------------------------------------------------


def _type_label(annotation: object) -> str:
    """A short readable type: ``int``, ``area|lanczos``, ``list[str]``; None is left out."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_label(a) for a in args if a is not type(None))
    if origin is typing.Annotated:
        return _type_label(args[0])
    if origin is not None:
        inner = ", ".join(_type_label(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


@app.command("stages")
def stages_command() -> None:
    """Every stage with its description, parameters and defaults."""
    from .stages.registry import list_stages

    for name, stage in list_stages().items():
        if isinstance(stage, Exception):
            typer.echo(f"{name}: not available ({stage})\n")
            continue
        typer.echo(f"{name}: {stage.description}")
        for field_name, info in stage.Params.model_fields.items():
            default = "required" if info.is_required() else f"default {info.get_default(call_default_factory=True)!r}"
            kind = _type_label(info.annotation)
            text = f" — {info.description}" if info.description else ""
            typer.echo(f"  {field_name} ({kind}; {default}){text}")
        typer.echo("")


# -- sub-commands in their own modules (light at import; they import fail/user_errors from here) --

from .commands.models import models_app  # noqa: E402  (sub-apps import fail/user_errors from here)
from .commands.pick import pick as pick_command  # noqa: E402
from .commands.score import score as score_command  # noqa: E402

app.add_typer(models_app, name="models")
app.command("score")(score_command)
app.command("pick")(pick_command)
