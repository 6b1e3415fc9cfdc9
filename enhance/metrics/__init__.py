"""Image quality metrics and their registry.

>>> from enhance import metrics
>>> metrics.compute(["sharpness", "png_bpp"], image)            # no-reference
>>> metrics.compute(["psnr_y", "ssim_y"], sr, reference=hr, crop_border=4)
>>> [m.name for m in metrics.list_metrics("no-reference")]

Names resolve lazily: importing this package does not import torch. No module is named after a
function it exports (``gradient.py`` holds ``sharpness``, ``naturalness.py`` holds ``niqe``): a
submodule, once imported, would otherwise shadow the function of the same name here.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: public name -> module (inside enhance.metrics) that defines it
_EXPORTS: dict[str, str] = {
    "Metric": "registry",
    "register_metric": "registry",
    "get_metric": "registry",
    "list_metrics": "registry",
    "metric_names": "registry",
    "default_metrics": "registry",
    "validate_metrics": "registry",
    "compute": "registry",
    "sharpness": "gradient",
    "gradient_energy": "gradient",
    "entropy": "information",
    "png_bpp": "information",
    "niqe": "naturalness",
    "psnr": "fidelity",
    "psnr_y": "fidelity",
    "ssim": "fidelity",
    "ssim_y": "fidelity",
    "banding_index": "banding",
    "banding_map": "banding",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
