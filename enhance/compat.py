"""Compatibility shims for the reference engine (``basicsr`` / ``realesrgan``), kept in one place.

basicsr 1.4.2 (the latest release) imports ``torchvision.transforms.functional_tensor``, a private
module that torchvision 0.17 removed; importing ``basicsr`` or ``realesrgan`` then fails with
``ModuleNotFoundError`` before any of their code runs. The only name basicsr takes from it is
``rgb_to_grayscale``, which the public ``torchvision.transforms.functional`` still provides, so
:func:`import_reference` registers a tiny alias module under the old name (only when the real one
is absent) and then imports the package. Nothing in torchvision itself is patched.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .errors import ConfigError

__all__ = ["import_reference"]

_OLD_NAME = "torchvision.transforms.functional_tensor"
_INSTALL_HINT = "install the reference engine with: uv sync --extra realesrgan (or pip install 'enhance[realesrgan]')"


def _alias_functional_tensor() -> None:
    if _OLD_NAME in sys.modules:
        return
    try:
        importlib.import_module(_OLD_NAME)
        return
    except ModuleNotFoundError:
        pass
    from torchvision.transforms import functional

    alias = types.ModuleType(_OLD_NAME)
    alias.__doc__ = "enhance.compat alias: torchvision removed this private module in 0.17."
    alias.rgb_to_grayscale = functional.rgb_to_grayscale  # type: ignore[attr-defined]
    sys.modules[_OLD_NAME] = alias


def import_reference(module: str = "realesrgan") -> Any:
    """Import ``realesrgan``/``basicsr`` (or a submodule) with the torchvision alias in place.

    Raises:
        ConfigError: the ``realesrgan`` extra is not installed.
    """
    if module.split(".")[0] not in ("realesrgan", "basicsr"):
        raise ValueError(f"import_reference is for basicsr/realesrgan modules, not {module!r}")
    _alias_functional_tensor()
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("realesrgan", "basicsr"):
            raise ConfigError(
                f"the reference engine is not installed ({exc.name} is missing): {_INSTALL_HINT}"
            ) from exc
        raise
