"""Full-reference fidelity: PSNR and SSIM, on RGB or on the BT.601 Y channel, SR-benchmark style.

The convention is basicsr's (``calculate_psnr``/``calculate_ssim`` with ``test_y_channel=True``,
``crop_border = scale``), which the super-resolution literature reports:

* both images are taken as the 8-bit files they would be written as (values rounded to 0..255);
* ``crop_border`` pixels are removed from every edge first;
* Y is studio-range BT.601 (MATLAB ``rgb2ycbcr``: 16..235), not rounded;
* PSNR is computed in float64 with peak 255; SSIM uses an 11×11 Gaussian window (σ = 1.5), keeps
  only the "valid" positions where the window fits, and averages the map (and the channels).

kornia's ``metrics.psnr``/``metrics.ssim`` (with ``padding="valid"``) compute exactly this and run
on any device, so they do the arithmetic. On Set14 they agree with basicsr to 1e-6 dB, and SSIM to
1e-8 in float64 or 6e-6 in the float32 we run it in (float64 convolutions are 5× slower on CPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from ._util import levels8, planes

if TYPE_CHECKING:
    import torch

    from ..image import Image

__all__ = ["psnr", "psnr_y", "ssim", "ssim_y", "SSIM_WINDOW"]

SSIM_WINDOW = 11


def _pair(
    x: Image | torch.Tensor, reference: Image | torch.Tensor, crop_border: int, y_only: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float64 ``[1,C,H,W]`` 8-bit levels, cropped, optionally reduced to Y."""
    import torch

    from ..ops.color import rgb_to_y_bt601

    a, b = planes(x), planes(reference)
    if a.shape[-2:] != b.shape[-2:]:
        raise InputError(
            f"the image is {a.shape[-1]}x{a.shape[-2]} but its reference is {b.shape[-1]}x{b.shape[-2]}: "
            "full-reference metrics compare images of the same size"
        )
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if a.shape[0] != b.shape[0]:  # gray against colour: compare as colour
        a, b = a.expand(3, -1, -1), b.expand(3, -1, -1)
    b = b.to(a.device)
    a, b = levels8(a).to(torch.float64), levels8(b).to(torch.float64)
    if crop_border:
        a = a[:, crop_border:-crop_border, crop_border:-crop_border]
        b = b[:, crop_border:-crop_border, crop_border:-crop_border]
    if a.numel() == 0:
        raise InputError(f"nothing is left to compare after cropping {crop_border} pixels from each edge")
    if y_only:
        a, b = rgb_to_y_bt601(a / 255.0) * 255.0, rgb_to_y_bt601(b / 255.0) * 255.0
    return a.unsqueeze(0), b.unsqueeze(0)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    import kornia

    return float(kornia.metrics.psnr(a, b, 255.0))


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    import kornia
    import torch

    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise InputError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border crop, "
            f"got {a.shape[-1]}x{a.shape[-2]}"
        )
    # float32: float64 convolutions have no fast CPU kernel (5x slower), and on Set14 float32
    # stays within 6e-6 of basicsr's float64 figure
    a32, b32 = a.float(), b.float()
    return float(kornia.metrics.ssim(a32, b32, SSIM_WINDOW, max_val=255.0, padding="valid").mean(dtype=torch.float64))


def psnr(x: Image | torch.Tensor, reference: Image | torch.Tensor, *, crop_border: int = 0) -> float:
    """PSNR in dB over all colour channels (8-bit levels, peak 255); ``inf`` for identical images."""
    return _psnr(*_pair(x, reference, crop_border, y_only=False))


def psnr_y(x: Image | torch.Tensor, reference: Image | torch.Tensor, *, crop_border: int = 0) -> float:
    """PSNR in dB of the BT.601 Y channel: the SR-benchmark figure (use ``crop_border=scale``)."""
    return _psnr(*_pair(x, reference, crop_border, y_only=True))


def ssim(x: Image | torch.Tensor, reference: Image | torch.Tensor, *, crop_border: int = 0) -> float:
    """Mean SSIM over the colour channels (Gaussian 11×11, σ = 1.5, valid window)."""
    return _ssim(*_pair(x, reference, crop_border, y_only=False))


def ssim_y(x: Image | torch.Tensor, reference: Image | torch.Tensor, *, crop_border: int = 0) -> float:
    """SSIM of the BT.601 Y channel: the SR-benchmark figure (use ``crop_border=scale``)."""
    return _ssim(*_pair(x, reference, crop_border, y_only=True))
