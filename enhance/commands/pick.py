"""``enhance pick``: keep the best of several generations of the same prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import interruptible, user_errors
from ._render import Renderer

__all__ = ["pick"]


def pick(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Folders (one per prompt) or files of candidates.", show_default=False, metavar="INPUT..."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the picked images and the report.")],
    metric: Annotated[
        str | None, typer.Option("--metric", "-m", help="Rank by one metric, in its direction (default: sharpness).")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(help="Rank by weighted z-scores, e.g. 'sharpness=1,banding=-1' (negative: lower is better)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many to keep per group.")] = 1,
    group_by: Annotated[
        str, typer.Option(help="folder: one group per folder; pattern: groups from --pattern on file names.")
    ] = "folder",
    pattern: Annotated[
        str | None, typer.Option(help="Regex on the file stem; its first group (or match) names the group.")
    ] = None,
    link: Annotated[bool, typer.Option("--link/--copy", help="Symlink the picked files instead of copying.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Rank candidates per prompt and copy (or link) the best into OUTPUT, with the ranking in the report."""
    from ..metrics.ranking import ranking_for
    from ..picking import pick_best
    from ..report.model import displayable  # names whose bytes are not UTF-8 print as \xff

    with user_errors(), interruptible("interrupted before the report was written; rerun to pick"), Renderer() as render:
        ranking = ranking_for(metric, weights)
        manifest = pick_best(
            inputs,
            output,
            ranking=ranking,
            top=top,
            group_by=group_by,  # type: ignore[arg-type]
            pattern=pattern,
            link=link,
            device=device,
            on_event=render,
        )
        written = manifest["reports"]
    if not quiet:
        for record in manifest["files"]:
            chosen = record["results"].get("pick") or {}
            if chosen.get("picked"):
                group, name, place = (
                    displayable(str(t)) for t in (chosen["group"], record["relative"], chosen["copied_to"])
                )
                typer.echo(f"{group}: {name} (rank {chosen['rank']}) → {place}")
        s = manifest["summary"]
        typer.echo(
            f"ranked by {manifest['ranking']}: {s['done']} scored, {s['skipped']} skipped, {s['failed']} failed "
            f"→ {written[-1] if written else output}",
            err=True,
        )
    raise typer.Exit(1 if manifest["summary"]["failed"] or manifest["unwritten"] else 0)
