"""enhance: restore detail in AI-generated images, fast, on whole folders.

The public API resolves lazily so that ``import enhance`` (and ``enhance --help``) stays fast:
torch and friends load only when something that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Image": "enhance.image",
    "Metadata": "enhance.image",
    "Raster": "enhance.image",
    "read": "enhance.io",
    "write": "enhance.io",
    "RunContext": "enhance.context",
    "Stage": "enhance.stages.base",
    "StageParams": "enhance.stages.base",
    "register_stage": "enhance.stages.registry",
    "get_stage": "enhance.stages.registry",
    "list_stages": "enhance.stages.registry",
    "Pipeline": "enhance.pipeline",
    "load_pipelines": "enhance.config",
    "run_batch": "enhance.batch",
    "resolve_device": "enhance.devices",
    "EnhanceError": "enhance.errors",
    "ConfigError": "enhance.errors",
    "InputError": "enhance.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'enhance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
