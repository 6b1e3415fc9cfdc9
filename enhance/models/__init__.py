"""Model zoo (metadata), fetching and verification, safe loading, and the reference engine.

Names resolve lazily so that ``import enhance.models`` (and ``enhance models list``) never
imports torch: the zoo and fetch modules are pure Python; ``load`` and ``reference`` import torch
and spandrel when used.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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
    "as_descriptor": "load",
    "clear_cache": "load",
    "set_cache_size": "load",
    "ReferenceUpscaler": "reference",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
