"""``enhance run``: run a pipeline over files and folders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ._common import interruptible, user_errors
from ._render import Renderer, echo

if TYPE_CHECKING:
    from ..events import EventSink
    from ..pipeline import Pipeline
    from ..runfolder import BatchResult

__all__ = ["profile_lines", "run"]


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
    profile: Annotated[
        bool, typer.Option("--profile", help="At the end, print where the time went per stage and what bound the run.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="local: this process. ray: Ray Data (pip install 'enhance[ray]'), "
            "a local Ray instance or the cluster at --address."
        ),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="--engine ray: the cluster (auto, ray://host:10001); default: start one here.")
    ] = None,
    gpus_per_worker: Annotated[
        float | None,
        typer.Option(
            min=0, help="--engine ray: GPUs per model-holding actor (default 1 where there are GPUs, else 0)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="--engine ray: model-holding actors (default: one per GPU, or 1).")
    ] = None,
) -> None:
    """Run a pipeline over files and folders: writes outputs, manifest.json (and reports when scored)."""
    import time

    from ..batch import run_batch
    from ..config import default_config_path
    from ..pipeline import Pipeline

    with user_errors():
        config_path = config or default_config_path()
        _check_engine(engine, address=address, gpus_per_worker=gpus_per_worker, workers=workers, jobs=jobs)
        pipe = Pipeline.from_yaml(config_path, pipeline, overrides=overrides or (), device=device)
        if dry_run:
            _dry_run(pipe, inputs, output, config_path, recursive=recursive, pattern=glob, overwrite=overwrite)
            return
        start = time.perf_counter()
        with (
            interruptible("interrupted; finished outputs are kept, rerun to do the rest"),
            Renderer(progress=not quiet and sys.stderr.isatty()) as render,
        ):
            if engine == "ray":
                result = _run_on_ray(
                    config_path,
                    pipeline,
                    overrides or [],
                    device,
                    inputs,
                    output,
                    glob,
                    recursive,
                    overwrite,
                    address=address,
                    gpus_per_worker=gpus_per_worker,
                    workers=workers,
                    on_event=render,
                )
            else:
                result = run_batch(
                    pipe,
                    inputs,
                    output,
                    recursive=recursive,
                    pattern=glob,
                    overwrite=overwrite,
                    jobs=jobs,
                    config=config_path,
                    on_event=render,
                )
    _summary(result, start, quiet, profile)


def _summary(result: BatchResult, start: float, quiet: bool, profile: bool = False) -> NoReturn:
    """The profile (with ``--profile``, when the runner made one), the closing line (unless
    quiet) and the exit code: 0 all done, 1 some file failed."""
    import time

    if profile and result.profile is not None:
        typer.echo("\n".join(profile_lines(result.profile)), err=True)
    if not quiet:
        s = result.summary
        echo(
            f"{s['done']} done, {s['skipped']} skipped, {s['failed']} failed ({s['total']} files) "
            f"in {time.perf_counter() - start:.1f} s → {result.manifest_path}",
            err=True,
        )
    raise typer.Exit(result.exit_code)


def _check_engine(
    engine: str, *, address: str | None, gpus_per_worker: float | None, workers: int | None, jobs: int | None
) -> None:
    """Refuse, before anything is loaded, an unknown engine or Ray options without ``--engine ray``."""
    from ..errors import ConfigError

    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine {engine}: unknown; choose local or ray")
    if engine == "local":
        given = [
            name
            for name, value in (("--address", address), ("--gpus-per-worker", gpus_per_worker), ("--workers", workers))
            if value is not None
        ]
        if given:
            raise ConfigError(f"{', '.join(given)}: only with --engine ray")
    elif jobs is not None:
        raise ConfigError("--jobs: only with --engine local (with --engine ray, Ray sizes the decode and encode tasks)")


def _run_on_ray(
    config_path: Path,
    name: str,
    overrides: list[str],
    device: str | None,
    inputs: list[Path],
    output: Path,
    glob: str | None,
    recursive: bool,
    overwrite: bool,
    *,
    address: str | None,
    gpus_per_worker: float | None,
    workers: int | None,
    on_event: EventSink,
) -> BatchResult:
    """``--engine ray``: the validated spec goes to the actors (each builds the pipeline once).
    Inputs and ``-o`` may be object-storage URIs there: typer gives them as paths, which would
    fold ``s3://`` into ``s3:/``, so they are taken back from the command line as typed."""
    from ..config import load_pipeline_spec
    from ..engines.ray_data import RayOptions, run_ray

    spec = load_pipeline_spec(config_path, name, overrides=overrides)
    return run_ray(
        spec,
        [_as_typed(p) for p in inputs],
        _as_typed(output),
        device=device,
        recursive=recursive,
        pattern=glob,
        overwrite=overwrite,
        config=config_path,
        options=RayOptions(address=address, workers=workers, gpus_per_worker=gpus_per_worker),
        on_event=on_event,
    )


def _as_typed(path: Path) -> Path | str:
    """A URI folded into a path by ``Path`` (``s3:/bucket/key``) as the URI it was."""
    text = str(path)
    scheme, sep, rest = text.partition(":/")
    if sep and scheme.isalnum() and len(scheme) > 1 and not rest.startswith("/"):
        return f"{scheme}://{rest}"
    return path


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
    from ..devices import resolve_device
    from ..discovery import collect_jobs

    device = resolve_device(pipe.device_spec)
    planned = collect_jobs(inputs, output, pipe.output, recursive=recursive, pattern=pattern)
    echo(f"pipeline '{pipe.name}' from {config_path}: {' → '.join(s.name for s in pipe.stages)}")
    typer.echo(f"device {device}; models are not loaded in a dry run (nothing downloaded)")
    for job in planned:
        state = "exists, skip" if job.destination.exists() and not overwrite else "to do"
        echo(f"  {job.source} → {job.destination} ({state})")
    typer.echo(f"{len(planned)} file(s); dry run, nothing written")


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """The ``--profile`` table: seconds per image for each step and stage, and what bound the run
    (from :func:`enhance.manifest.run_profile`'s dict, as manifest.json keeps it)."""
    count = profile.get("images") or 0
    wall = profile.get("wall") or 0.0

    def row(name: str, total: float | None, note: str = "") -> str:
        total = total or 0.0
        per = f"{total / count:9.3f}" if count else f"{'-':>9}"
        share = f"{100 * total / wall:5.0f} %" if wall else ""
        return f"  {name:<22}{total:9.2f}{per}  {share}{note}"

    lines = [f"profile: {count} image(s) in {wall:.2f} s ({profile.get('images_per_second') or 0:.3f} images/s)"]
    lines.append(f"  {'step':<22}{'total s':>9}{'s/image':>9}  of wall")
    totals = profile.get("totals") or {}
    lines.append(row("read (decode threads)", totals.get("read")))
    lines.append(row("compute (device)", totals.get("compute")))
    for name, seconds in (profile.get("stages") or {}).items():
        lines.append(row(f"  {name}", seconds))
    lines.append(row("write (encode threads)", totals.get("write")))
    lines.append(row("score (host threads)", totals.get("score")))
    waits = profile.get("waits") or {}
    lines.append("  device waited for:")
    for name in ("decode", "encode", "score", "drain"):
        lines.append(row(f"  {name}", waits.get(name)))
    busy = profile.get("device_busy")
    busy_text = f"{100 * busy:.0f} %" if busy is not None else "unknown"
    lines.append(f"  device busy {busy_text} of the wall time; bound by: {profile.get('bound')}")
    return lines
