"""Lazy package exports: public names resolved from their submodule on first use.

Keeps ``import enhance`` (and ``enhance --help``) free of torch and friends while the packages
still offer a flat public API (``enhance.Pipeline``, ``enhance.ops.resize``...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps each public name to the module defining it, relative to the package
    (``"resampling"``) or absolute (``"enhance.io"``). A resolved name is cached in the package.
    """
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name = target if target.startswith("enhance.") else f"{package}.{target}"
        value = getattr(importlib.import_module(module_name), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
