"""``enhance score``: score images or folders on their own, optionally against references."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import fail, interruptible, user_errors
from ._render import Renderer

__all__ = ["score"]


def _list_metrics() -> None:
    from ..metrics.registry import list_metrics

    for m in list_metrics():
        direction = "higher is better" if m.higher_is_better else "lower is better"
        reason = m.why_unavailable()
        state = f"  [unavailable: {reason}]" if reason else ""
        typer.echo(f"{m.name:10s} {m.kind:14s} {direction:16s} {m.description}{state}")


def score(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files and/or folders to score.", show_default=False, metavar="PATH..."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", "-r", help="Folder of reference images, paired by relative path, then by name."),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            "-m",
            help="Comma-separated metrics (default: no-reference ones, plus psnr/psnr_y/ssim/ssim_y with --reference).",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.json, report.csv and report.html.")
    ] = Path("score-report"),
    crop_border: Annotated[
        int, typer.Option(help="Pixels cut from each edge before full-reference metrics (SR convention: the scale).")
    ] = 0,
    recursive: Annotated[bool, typer.Option("--recursive", "-R", help="Descend into sub-folders.")] = False,
    glob: Annotated[str | None, typer.Option(help="Only files whose name or relative path matches.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    list_all: Annotated[bool, typer.Option("--list", help="List the metrics and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Score images with quality metrics and write report.json/csv/html (exit 1 if a file failed)."""
    if list_all:
        _list_metrics()
        return
    if not paths:
        raise fail("give at least one image file or folder to score (or --list)")
    from ..report.model import displayable  # names whose bytes are not UTF-8 print as \xff
    from ..scoring import score_files

    with (
        user_errors(),
        interruptible("interrupted before the report was written; rerun to score"),
        Renderer() as render,
    ):
        manifest = score_files(
            paths,
            reference=reference,
            metrics=metrics,
            crop_border=crop_border,
            device=device,
            recursive=recursive,
            pattern=glob,
            out_dir=output,  # held while scoring; the reports are written there
            on_event=render,
        )
        written = manifest["reports"]
    if not quiet:
        names = manifest["metrics"]
        for record in manifest["files"]:
            if record["status"] != "done":
                continue
            scores = record["results"]["scores"]
            values = "  ".join(f"{n}={_short(scores[n]['after'])}" for n in names if n in scores)
            typer.echo(f"{displayable(record['relative'])}  {values}")
        s = manifest["summary"]
        typer.echo(f"{s['done']} scored, {s['failed']} failed → {written[-1] if written else output}", err=True)
    raise typer.Exit(1 if manifest["summary"]["failed"] or manifest["unwritten"] else 0)


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
