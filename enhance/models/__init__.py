"""Model zoo (metadata), fetching and verification, safe loading, and the reference engine.

Names resolve lazily so that ``import enhance.models`` (and ``enhance models list``) never
imports torch: the zoo and fetch modules are pure Python; ``load`` and ``reference`` import torch
and spandrel when used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module (inside enhance.models) that defines it
_EXPORTS: dict[str, str] = {
    "ModelEntry": "zoo",
    "ZOO": "zoo",
    "get_entry": "zoo",
    "model_names": "zoo",
    "resolve_model": "fetch",
    "check_file": "fetch",
    "search_dirs": "fetch",
    "download_dir": "fetch",
    "ModelInfo": "load",
    "inspect_file": "load",
    "load_model": "load",
    "read_state_dict": "load",
    "ReferenceUpscaler": "reference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'enhance.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
