"""enhance: restore detail in AI-generated images, fast, on whole folders.

The public API resolves lazily so that ``import enhance`` (and ``enhance --help``) stays fast:
torch and friends load only when something that needs them is used.
"""

from __future__ import annotations

from ._lazy import lazy_exports
from ._version import __version__

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
