"""Sharpness: RMS luma gradient per picture short side.

Why not the usual variance of the Laplacian? It is measured per *pixel*, so the same scene at 4K
scores 16× lower than at 2K and a plain bicubic upscale looks like a loss of sharpness. Here the
gradient is expressed per picture (multiplied by the short side in pixels), so a plain resampled
copy scores about the same as its source (a little lower: resamplers blur) and only detail that is
really there raises the score.

The normalisation cancels exactly only for band-limited content. Sharp edges drawn at twice the
resolution are sharper per picture, not the same detail: a scene of anti-aliased discs rendered at
3840x2160 reads 1.42x its 1920x1080 render. So values at different sizes are not comparable (the
registry does not mark it ``scale_invariant``); compare at one size (the score stage's default).

That only holds if the derivative itself is accurate at every frequency: a 3-tap difference
under-reads fine detail (at 0.25 cycles/px it reads 10% low, at 0.4 cycles/px 40%), which would
make an upscaled copy look *sharper* than its source. So the derivative is a 17-tap Kaiser-windowed
ideal differentiator, exact to 0.1% up to 0.35 cycles/px and 3% at 0.4 (measured on Kodak: a
bicubic ×2 or ×4 copy reads 0.93× its source; a 3×3 Sobel would read 1.35×).

No library offers this normalisation (kornia and scikit-image give per-pixel operators), hence
our own few lines.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

from ._util import planes

if TYPE_CHECKING:
    import torch

    from ..image import Image

__all__ = ["sharpness", "gradient_energy", "DIFFERENTIATOR_HALF_WIDTH"]

#: taps on each side of the differentiator (17 taps in all)
DIFFERENTIATOR_HALF_WIDTH = 8
_KAISER_BETA = 6.0


@cache
def _differentiator(half: int) -> tuple[float, ...]:
    """Taps of the ideal derivative ``cos(πn)/n`` (n ≠ 0) under a Kaiser window, ``n = -half..half``."""
    taps = []
    for n in range(-half, half + 1):
        ideal = 0.0 if n == 0 else math.cos(math.pi * n) / n
        # Kaiser window w(n) = I0(β·sqrt(1-(n/half)²)) / I0(β)
        window = _bessel_i0(_KAISER_BETA * math.sqrt(1.0 - (n / half) ** 2)) / _bessel_i0(_KAISER_BETA)
        # convolution flips the kernel: store it so that conv2d (a correlation) computes +d/dx
        taps.append(-ideal * window)
    return tuple(taps)


def _bessel_i0(x: float) -> float:
    total, term, k = 1.0, 1.0, 1
    while term > 1e-12 * total:
        term *= (x / (2 * k)) ** 2
        total += term
        k += 1
    return total


def gradient_energy(x: Image | torch.Tensor) -> torch.Tensor:
    """Squared luma gradient magnitude per pixel, ``[H,W]``, in (luma per pixel)² units."""
    import torch.nn.functional as F

    from ..ops.color import luma

    y = luma(planes(x)).float()  # [1,H,W]
    half = DIFFERENTIATOR_HALF_WIDTH
    h, w = y.shape[-2:]
    mode = "reflect" if min(h, w) > half else "replicate"
    padded = F.pad(y.unsqueeze(0), (half, half, half, half), mode=mode)[0, 0]
    taps = _differentiator(half)
    # shifted slices accumulated in place: 4x faster than conv2d with a 1x17 kernel on CPU
    gx = padded[half:-half, 0:w] * taps[0]
    gy = padded[0:h, half:-half] * taps[0]
    for i in range(1, 2 * half + 1):
        if i == half:  # the centre tap is zero
            continue
        gx.add_(padded[half:-half, i : i + w], alpha=taps[i])
        gy.add_(padded[i : i + h, half:-half], alpha=taps[i])
    return gx.square_().add_(gy.square_())


def sharpness(x: Image | torch.Tensor) -> float:
    """RMS luma gradient in full-scale units per picture short side (see the module docstring).

    Typical photos read 20–60; a flat image reads 0.
    """
    energy = gradient_energy(x)
    short_side = min(energy.shape)
    return float(energy.mean().sqrt()) * short_side
