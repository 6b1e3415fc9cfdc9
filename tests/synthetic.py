"""Banded test content for the deband stage and the banding index (tests and benchmarks share it;
not part of the installed package).

Every generator is deterministic (seeded, computed on the CPU in float64) and parametrised by size,
so tests use small frames and benchmarks 1920×1080 or 4096². Images come back as float32
``[3,H,W]`` tensors in [0,1] whose values lie exactly on the 8-bit grid (``k/255``), or on the
16-bit grid for the smooth reference, i.e. what decoding such a PNG would give.

The cases (see :data:`CASES`):

* ``smooth``: the gradient stored in 16 bits: no visible banding.
* ``banded``: the same gradient rounded to 8 bits without dither: bands one code apart.
* ``dithered``: rounded to 8 bits with TPDF dither: no bands, fine noise instead.
* ``posterized32`` / ``posterized64``: reduced to 32 or 64 levels per channel, then stored in 8
  bits: coarse steps of about 8 or 4 codes.

The scene is a smooth gradient (``linear``: a vertical sky-like ramp; ``vignette``: bright centre,
dark corners) with, when ``texture=True``, a textured region (band-limited noise of about 18 codes
standard deviation, foliage-like) over the right third of the frame. The texture goes through the
same quantisation as the rest of the image, as it would in a real file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["CASES", "PATTERNS", "Synthetic", "gradient", "texture", "quantize", "banded"]

#: quantisations that :func:`banded` can apply
CASES = ("smooth", "banded", "dithered", "posterized32", "posterized64")
#: gradient shapes that :func:`gradient` can draw
PATTERNS = ("linear", "vignette")

#: per-pattern luma range (dark end, bright end), chosen like real skies and backdrops
_RANGES = {"linear": (0.22, 0.72), "vignette": (0.12, 0.78)}


@dataclass(frozen=True)
class Synthetic:
    """A generated frame and where its regions are.

    Attributes:
        image: float32 ``[3,H,W]`` in [0,1].
        texture_box: ``(top, left, height, width)`` of the textured region, or None.
        gradient_box: ``(top, left, height, width)`` of the plain gradient region.
        bit_depth: 8, or 16 for the ``smooth`` case.
    """

    image: torch.Tensor
    texture_box: tuple[int, int, int, int] | None
    gradient_box: tuple[int, int, int, int]
    bit_depth: int

    def crop(self, box: tuple[int, int, int, int], image: torch.Tensor | None = None) -> torch.Tensor:
        """``image`` (default: this frame) cropped to ``box``."""
        top, left, height, width = box
        source = self.image if image is None else image
        return source[..., top : top + height, left : left + width]


def gradient(
    height: int,
    width: int,
    *,
    pattern: str = "linear",
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0),
    contrast: float = 1.0,
) -> torch.Tensor:
    """A smooth float64 gradient ``[3,H,W]`` in [0,1] (no quantisation).

    ``linear`` runs from dark at the top to bright at the bottom; ``vignette`` is bright in the
    centre and falls off smoothly towards the corners. ``tint`` scales the channels (1, 1, 1 is
    neutral grey, whose channels step together when quantised). ``contrast`` scales the luma
    range about its middle: small frames need gentler gradients for bands to be wider than a
    pixel or two (0.25 at 256×192 gives one-code bands about 6 px wide).
    """
    import torch

    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    low, high = _RANGES[pattern]
    middle, half = (low + high) / 2, (high - low) / 2 * contrast
    low, high = middle - half, middle + half
    y = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    x = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    if pattern == "linear":
        # a slight ease keeps it from being a pure ramp, as in a real sky
        t = (y + 0.08 * torch.sin(torch.pi * y))[:, None].expand(height, width)
    else:
        aspect = width / height
        r2 = ((x[None, :] - 0.5) * aspect) ** 2 + (y[:, None] - 0.5) ** 2
        r2 = r2 / (0.25 * (aspect**2 + 1))  # 1 in the corners
        t = 1.0 - r2.clamp(0, 1) ** 0.8
    luma = low + (high - low) * t.clamp(0, 1)
    tints = torch.tensor(tint, dtype=torch.float64).view(3, 1, 1)
    return (luma[None] * tints).clamp(0.0, 1.0)


def texture(height: int, width: int, *, seed: int = 0, strength: float = 18.0) -> torch.Tensor:
    """Zero-mean band-limited noise ``[1,H,W]`` (float64, in [0,1] units) with ``strength`` 8-bit
    codes of standard deviation: two octaves of blurred white noise, like foliage or gravel."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(1, 1, height, width, dtype=torch.float64)
    for sigma, weight in ((0.8, 1.0), (2.5, 0.8)):
        noise = torch.randn(1, 1, height, width, generator=generator, dtype=torch.float64)
        total += weight * _blur(noise, sigma)
    total -= total.mean()
    total *= (strength / 255.0) / total.std().clamp_min(1e-12)
    return total[0]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[1,1,H,W]`` with reflect padding."""
    import torch
    import torch.nn.functional as F

    radius = max(1, round(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def quantize(
    x: torch.Tensor, *, levels: int = 256, dither: bool = False, seed: int = 0, bit_depth: int = 8
) -> torch.Tensor:
    """Round ``x`` (float, [0,1]) to ``levels`` evenly spaced values, then store it in ``bit_depth``
    bits (float32 result on that grid). ``dither`` adds TPDF noise of one step before rounding."""
    import torch

    steps = levels - 1
    scaled = x.to(torch.float64).clamp(0, 1) * steps
    if dither:
        generator = torch.Generator().manual_seed(seed)
        scaled = scaled + torch.rand(x.shape, generator=generator, dtype=torch.float64)
        scaled = scaled - torch.rand(x.shape, generator=generator, dtype=torch.float64)
    posterized = scaled.round().clamp(0, steps) / steps
    storage = (1 << bit_depth) - 1
    return ((posterized * storage).round() / storage).to(torch.float32)


def banded(
    case: str,
    height: int,
    width: int,
    *,
    pattern: str = "linear",
    texture_region: bool = True,
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0),
    contrast: float = 1.0,
    seed: int = 0,
) -> Synthetic:
    """A test frame: the ``pattern`` gradient (see :func:`gradient`) quantised as ``case`` (one of
    :data:`CASES`), with a textured region over the right third when ``texture_region`` is true."""
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    smooth = gradient(height, width, pattern=pattern, tint=tint, contrast=contrast)
    split = width - width // 3 if texture_region else width
    texture_box = None
    if texture_region:
        smooth[:, :, split:] = (smooth[:, :, split:] + texture(height, width - split, seed=seed + 1)).clamp(0, 1)
        texture_box = (0, split, height, width - split)
    gradient_box = (0, 0, height, split)
    if case == "smooth":
        return Synthetic(quantize(smooth, levels=65536, bit_depth=16), texture_box, gradient_box, 16)
    if case == "banded":
        image = quantize(smooth)
    elif case == "dithered":
        image = quantize(smooth, dither=True, seed=seed)
    else:
        image = quantize(smooth, levels=int(case.removeprefix("posterized")))
    return Synthetic(image, texture_box, gradient_box, 8)
