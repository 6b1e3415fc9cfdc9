"""``enhance stages``: every stage with its description, parameters and defaults."""

from __future__ import annotations

import typer

__all__ = ["stages"]


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


def stages() -> None:
    """Every stage with its description, parameters and defaults."""
    from ..stages.registry import list_stages

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
