"""``enhance models``: list, fetch, verify and inspect model files.

Imports no torch at import time: ``list``, ``fetch`` and ``verify`` never need it; ``info``
imports torch and spandrel when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..models.fetch import check_file, download_dir, downloads_allowed, entry_url, fetch, find_local, search_dirs
from ..models.zoo import ZOO, get_entry
from ._common import EXIT_SOME_FAILED, fail, user_errors
from ._render import Renderer

__all__ = ["models_app"]

models_app = typer.Typer(
    help="List, download, verify and inspect super-resolution models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@models_app.command("list")
def list_models(
    urls: Annotated[bool, typer.Option("--urls", help="Show each model's download URL and size.")] = False,
) -> None:
    """List the zoo: name, scale, architecture, how its hash is checked, and where it is (if present)."""
    rows = [["NAME", "SCALE", "ARCH", "KIND", "HASH", "PRESENT"] + (["SIZE", "URL"] if urls else [])]
    for entry in ZOO.values():
        local = find_local(entry)
        hash_kind = "pinned" if entry.pinned else "first-use"
        row = [entry.name, f"x{entry.scale}", entry.arch, entry.kind, hash_kind, str(local) if local else "-"]
        if urls:
            row += [f"{entry.size / 1e6:.1f} MB" if entry.size else "?", entry_url(entry)]
        rows.append(row)
    _table(rows)
    typer.echo("")
    typer.echo("HASH: pinned = checked against a known sha256 (sources in weights/README.md);")
    typer.echo("first-use = the first download's sha256 is recorded beside the file and checked from then on.")
    typer.echo(f"Searched: {', '.join(str(d) for d in search_dirs())}; downloads go to {download_dir()}")


@models_app.command("fetch")
def fetch_models(
    names: Annotated[list[str] | None, typer.Argument(help="Zoo names (see 'enhance models list').")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Fetch every model in the zoo.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Download again even if a good copy is present.")] = False,
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Folder to save into (default: $ENHANCE_WEIGHTS or the cache).")
    ] = None,
) -> None:
    """Download models (sha256-checked, written atomically)."""
    chosen = list(ZOO) if all_models else list(names or [])
    if not chosen:
        raise fail("name at least one model, or use --all (see 'enhance models list')")
    with user_errors():
        entries = [get_entry(name) for name in chosen]
        for entry in entries:
            local = None if force or dest else find_local(entry)
            if local is not None:
                verdict = check_file(entry, local)
                if not verdict.ok:
                    raise fail(f"{local} is not a good copy of {entry.name} (sha256 mismatch): delete it, fetch again")
                typer.echo(f"{entry.name}: present at {local}")
                continue
            if not downloads_allowed():
                raise fail(f"{entry.name}: not downloaded: downloads are turned off (ENHANCE_OFFLINE is set)")
            with Renderer(progress=sys.stderr.isatty()) as render:
                path = fetch(entry, dest=dest, force=force, on_event=render)
            typer.echo(f"{entry.name}: saved to {path}")


@models_app.command("verify")
def verify_models(
    names: Annotated[
        list[str] | None, typer.Argument(help="Zoo names to check (default: every model present).")
    ] = None,
) -> None:
    """Check the sha256 of every model file present (exit 1 if one is bad)."""
    with user_errors():
        entries = [get_entry(name) for name in names] if names else list(ZOO.values())
    bad = 0
    rows = [["NAME", "STATUS", "FILE"]]
    for entry in entries:
        local = find_local(entry)
        if local is None:
            rows.append([entry.name, "not present", "-"])
            continue
        verdict = check_file(entry, local)
        status = {
            "pinned": "ok (pinned sha256)",
            "recorded": "ok (sha256 recorded on first use)",
            "unrecorded": "unchecked (no pin, nothing recorded yet)",
            "mismatch": "BAD: sha256 mismatch",
        }[verdict.status]
        bad += not verdict.ok
        rows.append([entry.name, status, str(local)])
    _table(rows)
    if bad:
        typer.echo(
            f"enhance: {bad} model file(s) do not match: delete them and run 'enhance models fetch NAME'", err=True
        )
        raise typer.Exit(EXIT_SOME_FAILED)


@models_app.command("info")
def info(
    model: Annotated[str, typer.Argument(help="A model file (.pth, .safetensors, ...) or a zoo name.")],
) -> None:
    """Show what spandrel detects in a model file (loaded weights-only, never run as code)."""
    from ..models.fetch import resolve_model

    with user_errors():
        path = resolve_model(model, download=False) if model in ZOO else Path(model)
        from ..models.load import inspect_file

        details = inspect_file(path)
    _table([[label + ":", value] for label, value in details.rows()])
