"""Pure tensor functions behind the stages, usable without a pipeline.

Names resolve lazily, so ``import enhance.ops`` does not import torch; ``ops.resize(x, ...)``
imports the module that defines it on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: public op name -> module (inside enhance.ops) that defines it
_EXPORTS: dict[str, str] = {
    "resize": "resize",
    "resize_to": "resize",
    "target_size": "resize",
    "srgb_to_linear": "color",
    "linear_to_srgb": "color",
    "rgb_to_ycbcr": "color",
    "ycbcr_to_rgb": "color",
    "deband": "deband",
    "tiled_upscale": "tiling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'enhance.ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _OpsPackage(types.ModuleType):
    """This package's module type: an op keeps its name when its same-named module is imported.

    Importing ``enhance.ops.resize`` (as ``from enhance.ops.resize import target_size`` does)
    makes Python bind the module to ``enhance.ops.resize``, hiding the op ``resize``; this keeps
    the op. The module stays reachable through ``sys.modules`` and ``from ... import``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _OpsPackage
