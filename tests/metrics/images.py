"""Test images: real photos from ../shared as tensors (via PIL: no dependency on enhance.io),
and synthetic ones with a known property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from ..conftest import KODAK

__all__ = ["load_planes", "load_array", "kodak_crop", "gaussian_blur", "quantized_gradient", "save_planes"]


def load_array(path: Path) -> np.ndarray:
    """An RGB file as an ``HxWx3`` uint8 array."""
    with PILImage.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def load_planes(path: Path) -> torch.Tensor:
    """An RGB file as ``[3,H,W]`` float in [0,1]."""
    return torch.from_numpy(load_array(path)).permute(2, 0, 1).float() / 255.0


def save_planes(planes: torch.Tensor, path: Path) -> Path:
    """Write ``[C,H,W]`` [0,1] planes as an 8-bit PNG."""
    array = (planes.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    PILImage.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
    return path


def kodak_crop(name: str = "kodim05.png", size: int = 192) -> torch.Tensor:
    """A centred ``size``² crop of a Kodak photo, ``[3,size,size]``."""
    x = load_planes(KODAK / name)
    top, left = (x.shape[1] - size) // 2, (x.shape[2] - size) // 2
    return x[:, top : top + size, left : left + size].contiguous()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    import kornia

    k = 2 * round(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(x[None], (k, k), (sigma, sigma), border_type="reflect")[0]


def quantized_gradient(levels: int | None, height: int = 192, width: int = 256) -> torch.Tensor:
    """A slow horizontal sky-like ramp, smooth (``levels`` None) or quantized to ``levels`` steps."""
    ramp = torch.linspace(0.35, 0.55, width).expand(height, width)
    if levels is not None:
        ramp = (ramp * levels).floor() / levels
    return torch.stack([ramp * 0.8, ramp * 0.9, ramp])
