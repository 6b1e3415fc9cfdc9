"""Stage registry: names used in pipelines.yaml mapped to Stage classes, imported lazily.

Built-in stages are listed here by import path so that naming a stage never imports torch.
Third-party packages add stages through the ``enhance.stages`` entry-point group::

    [project.entry-points."enhance.stages"]
    sharpen = "my_package.stages:Sharpen"

and code can add one at run time with :func:`register_stage`.

A name means one stage. Registering a name that is taken (built in, from a plugin, or registered
earlier) is refused unless ``replace=True`` says it is meant, as :func:`enhance.metrics.register_metric`
does. A plugin cannot take a built-in name at all: its entry point is refused, with a warning
naming its distribution, and the built-in stage keeps the name (a pipeline means what it says
whatever is installed).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, TypeVar, overload

from ..errors import ConfigError, StageUnavailableError, quote

if TYPE_CHECKING:
    from .base import Stage

__all__ = ["BUILTIN_STAGES", "register_stage", "get_stage", "stage_names", "list_stages", "refused_plugins"]

log = logging.getLogger("enhance")

#: name -> "module:Class" for the stages that ship with enhance.
BUILTIN_STAGES: dict[str, str] = {
    "deband": "enhance.stages.deband:Deband",
    "resize": "enhance.stages.resize:Resize",
    "upscale": "enhance.stages.upscale:Upscale",
    "score": "enhance.stages.score:Score",
}

ENTRY_POINT_GROUP = "enhance.stages"

#: stages registered at run time with :func:`register_stage` (they win over built-ins and plugins)
_registered: dict[str, type[Stage]] = {}
#: built-in and plugin stages already imported, by name
_loaded: dict[str, type[Stage]] = {}

S = TypeVar("S", bound="type[Stage]")


@dataclass(frozen=True)
class _Plugin:
    target: str  # "module:Class"
    distribution: str  # the installed package that declares it


@overload
def register_stage(cls: S, *, replace: bool = False) -> S: ...
@overload
def register_stage(cls: None = None, *, replace: bool = False) -> Callable[[S], S]: ...


def register_stage(cls: S | None = None, *, replace: bool = False) -> S | Callable[[S], S]:
    """Register a Stage subclass under its ``name``; usable as ``@register_stage`` or
    ``@register_stage(replace=True)``.

    Raises:
        TypeError: the class has no ``name``.
        ValueError: the name is taken (built in, from a plugin, or registered before) and
            ``replace`` is not set.
    """
    if cls is None:
        return lambda given: register_stage(given, replace=replace)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' to be registered")
    holder = _holder(name)
    if holder is not None and not replace and (_registered.get(name) or _loaded.get(name)) is not cls:
        raise ValueError(
            f"a stage named {name!r} is already {holder}; give yours another name, or pass replace=True to replace it"
        )
    _registered[name] = cls
    return cls


def _holder(name: str) -> str | None:
    """Who holds ``name`` now (for messages), or None when it is free."""
    if name in _registered:
        return f"registered ({_registered[name].__module__}.{_registered[name].__qualname__})"
    if name in BUILTIN_STAGES:
        return "built into enhance"
    plugin = _plugins().get(name)
    if plugin is not None:
        return f"provided by the plugin {plugin.distribution!r} ({plugin.target})"
    return None


@cache
def _entry_point_scan() -> tuple[dict[str, _Plugin], tuple[str, ...]]:
    """The plugins' stages by name, and one message per plugin entry refused for taking a built-in name."""
    plugins: dict[str, _Plugin] = {}
    refused: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
        if ep.name in BUILTIN_STAGES:
            message = (
                f"stage plugin {dist!r} declares a stage named {ep.name!r} ({ep.value}), which is a built-in "
                f"stage of enhance: refused, '{ep.name}' stays the built-in stage; the plugin must use another name"
            )
            log.warning("%s", message)
            refused.append(message)
            continue
        plugins.setdefault(ep.name, _Plugin(ep.value, dist))
    return plugins, tuple(refused)


def _plugins() -> dict[str, _Plugin]:
    return _entry_point_scan()[0]


def refused_plugins() -> list[str]:
    """One message per installed plugin stage that was refused (it takes a built-in name)."""
    return list(_entry_point_scan()[1])


def stage_names() -> list[str]:
    """Every known stage name: built-in, entry points and registered at run time (no imports)."""
    return sorted({*BUILTIN_STAGES, *_plugins(), *_registered})


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
    if name in _loaded:
        return _loaded[name]
    plugin = _plugins().get(name)
    target = BUILTIN_STAGES.get(name) or (plugin.target if plugin is not None else None)
    if target is None:
        raise ConfigError(f"unknown stage {quote(name, 40)}; known stages: {', '.join(stage_names())}")
    cls = _load(name, target)
    _loaded[name] = cls
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
