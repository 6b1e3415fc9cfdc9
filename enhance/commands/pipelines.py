"""``enhance pipelines``: list, show and validate the pipelines in a pipelines file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import EXIT_USAGE, user_errors

__all__ = ["pipelines_app"]

pipelines_app = typer.Typer(help="List, show and validate the pipelines in a pipelines file.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Pipelines file.")]


@pipelines_app.command("list")
def pipelines_list(config: ConfigOption = None) -> None:
    """Each pipeline with its stages and description."""
    from ..config import load_pipelines
    from ..errors import ConfigError, printable

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

    from ..config import load_pipeline_spec

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
    from ..config import load_pipelines, no_such_pipeline
    from ..errors import ConfigError, printable

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
