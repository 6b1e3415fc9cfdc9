"""Pure tensor functions behind the stages, usable without a pipeline.

Names resolve lazily, so ``import enhance.ops`` does not import torch; ``ops.resize(x, ...)``
imports the module that defines it on first use. Modules are named for what they do
(``resampling``, ``debanding``, ``tiling``), never like an op, so importing one never hides an op.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: public op name -> module (inside enhance.ops) that defines it
_EXPORTS: dict[str, str] = {
    "resize": "resampling",
    "resize_to": "resampling",
    "target_size": "resampling",
    "srgb_to_linear": "color",
    "linear_to_srgb": "color",
    "rgb_to_ycbcr": "color",
    "ycbcr_to_rgb": "color",
    "deband": "debanding",
    "tiled_upscale": "tiling",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
