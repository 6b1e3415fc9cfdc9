"""Stage registry: names used in pipelines.yaml mapped to Stage classes, imported lazily.

Built-in stages are listed here by import path so that naming a stage never imports torch.
Third-party packages add stages through the ``enhance.stages`` entry-point group::

    [project.entry-points."enhance.stages"]
    sharpen = "my_package.stages:Sharpen"

and code can add one at run time with :func:`register_stage`.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, TypeVar

from ..errors import ConfigError, StageUnavailableError

if TYPE_CHECKING:
    from .base import Stage

__all__ = ["BUILTIN_STAGES", "register_stage", "get_stage", "stage_names", "list_stages"]

#: name -> "module:Class" for the stages that ship with enhance.
BUILTIN_STAGES: dict[str, str] = {
    "deband": "enhance.stages.deband:Deband",
    "resize": "enhance.stages.resize:Resize",
    "upscale": "enhance.stages.upscale:Upscale",
    "score": "enhance.stages.score:Score",
}

ENTRY_POINT_GROUP = "enhance.stages"

_registered: dict[str, type[Stage]] = {}

S = TypeVar("S", bound="type[Stage]")


def register_stage(cls: S) -> S:
    """Register a Stage subclass under its ``name`` (usable as a class decorator)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' to be registered")
    _registered[name] = cls
    return cls


@cache
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def stage_names() -> list[str]:
    """Every known stage name: built-in, entry points and registered at run time (no imports)."""
    return sorted({*BUILTIN_STAGES, *_entry_points(), *_registered})


def _load(name: str, target: str) -> type[Stage]:
    from .base import Stage

    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StageUnavailableError(
                f"stage '{name}' is not available yet in this version of enhance ({module_name} is missing)"
            ) from exc
        raise StageUnavailableError(
            f"stage '{name}' cannot be loaded: it needs the Python package '{exc.name}', which is not installed"
        ) from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise StageUnavailableError(f"stage '{name}': {target} is not an enhance Stage class")
    return cls


def get_stage(name: str) -> type[Stage]:
    """The Stage class registered as ``name``.

    Raises:
        ConfigError: no stage has that name (the message lists the known ones).
        StageUnavailableError: the stage is known but cannot be imported here.
    """
    if name in _registered:
        return _registered[name]
    target = BUILTIN_STAGES.get(name) or _entry_points().get(name)
    if target is None:
        raise ConfigError(f"unknown stage '{name}'; known stages: {', '.join(stage_names())}")
    cls = _load(name, target)
    _registered[name] = cls
    return cls


def list_stages() -> dict[str, type[Stage] | StageUnavailableError]:
    """Every stage name mapped to its class, or to the error saying why it cannot be loaded."""
    found: dict[str, type[Stage] | StageUnavailableError] = {}
    for name in stage_names():
        try:
            found[name] = get_stage(name)
        except StageUnavailableError as exc:
            found[name] = exc
    return found
