"""Debanding in the f3kdb / libplacebo family, as vectorised torch (CPU and CUDA).

Written by hand: no maintained library debands tensors on a GPU. The method, per image:

1. **Random references** (f3kdb). For each pixel of the luma plane (full-range BT.601 Y), draw
   a random offset ``(dx, dy)`` at a uniform angle and distance up to ``radius`` and read the
   four references at ``(±dx, ±dy)``, as f3kdb and ffmpeg's ``deband`` do.
2. **Threshold.** Replace the pixel by the references' mean only where the pixel and all four
   references lie within ``threshold`` of each other (f3kdb's strict mode, written as a spread)
   *and* the pixel has a neighbour within one code both horizontally and vertically: a band is
   flat along itself, texture and edges are not. Untouched pixels come back bit for bit, and
   texture and edges stay nearly untouched (textured-crop SSIM >= 0.9996 in BENCHMARKS.md), but
   not exactly: an isolated pixel inside texture that passes both tests is smoothed like a flat
   one (on Kodak photos 0.1-1.3 % of the pixels whose 5x5 luma std exceeds 10 codes, by up to
   12 codes). The luma change is added to R, G and B alike, which changes luma by that much and leaves chroma
   exactly as it was.
3. **Iterations with growing radius**, on a pyramid: iteration *i* ≥ 2 runs the same
   random-reference pass on luma *and chroma* averaged down ``4**(i-1)`` times, with the same
   radius in its own pixels, so the reach grows 16, 64, 256 px by default. Each level's change
   is smoothed 3×3 (the mean of four references is noisy; upsampled, noise reads as blotches)
   and added back by bilinear upsampling, only to 2×2 blocks whose pixels are all flat. Wide
   posterised bands need the long reach; the pyramid makes it cheap (each level costs a
   sixteenth of the one above), and the full-resolution pass has already turned every hard
   step into a ramp, so the smooth corrections never have to cancel a sharp edge. Chroma gets
   only these smooth corrections, as debanders working on 4:2:0 video do: chroma steps of a
   code or less (8-bit banding) vanish, but coarse chroma steps (colourful posterisation, 3+
   codes in Cb/Cr) keep a faint sharp line where each step was.
4. **Grain.** Optional noise on the pixels that changed, e.g. for 16-bit output viewed with
   strong contrast; when writing 8 bits, the writer's dither already does this job.

The result is float: write it with dither (the default 8-bit writer) or in 16 bits, or the
rounding brings the bands back.

Speed: on the CPU the work runs in tiles small enough that the references and every temporary
stay in cache, with all arithmetic in reused buffers; on a GPU one tile covers the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["deband", "CHANNELS", "Bounds", "THRESHOLD", "RADIUS", "ITERATIONS", "GRAIN"]

#: which planes of the YCbCr image are debanded
CHANNELS = ("all", "luma", "chroma")


@dataclass(frozen=True)
class Bounds:
    """A parameter's default and allowed range ``[low, high]`` (``low`` itself excluded when
    ``open_low``): declared once here, checked by :func:`deband` and used by the stage's schema."""

    default: float
    low: float
    high: float
    open_low: bool = False

    def check(self, name: str, value: float, unit: str = "") -> None:
        """Raise ValueError when ``value`` is outside the range, naming ``name``, the range and ``unit``."""
        above_low = value > self.low if self.open_low else value >= self.low
        if not (above_low and value <= self.high):
            bracket = "(" if self.open_low else "["
            raise ValueError(f"deband: {name} must be in {bracket}{self.low:g}, {self.high:g}]{unit}, got {value}")


# Why these limits (the op and the stage used to disagree; these are the narrower, deliberate ones):
#: steps smoothed, in 8-bit codes: 10 covers posterisation to 32 levels, 64 to 5; a step of more
#: than a quarter of the range is a contour or a shape, not a band
THRESHOLD = Bounds(10.0, 0.0, 64.0, open_low=True)
#: first-pass reference distance in pixels: below 2 a reference is the pixel's own neighbour, and 1
#: always ran as 2; a longer reach than 128 comes cheaper from the next pass (4x reach, 1/16 cost)
RADIUS = Bounds(16, 2, 128)
#: pass k works on the image shrunk 4**(k-1) times and runs only while that is at least 8 px: a
#: 6th pass needs a 2048 px short side to see a 2 px image, an 8th never runs below 32768 px;
#: 5 passes already reach 4096 px (a whole 4K frame) with the default radius
ITERATIONS = Bounds(3, 1, 5)
#: noise on the changed pixels, std in 8-bit codes: 8 (3 % of the range) is already heavy grain;
#: more drowns the smooth areas the deband just made
GRAIN = Bounds(0.0, 0.0, 8.0)

_CODE = 1.0 / 255.0
#: each iteration after the first works on an image this many times smaller (radius grows alike)
_GROWTH = 4
# full-range BT.601 (as enhance.ops.color): R, G, B per unit of (Cb, Cr)
_RGB_FROM_CHROMA = ((0.0, 1.402), (-0.344136, -0.714136), (1.772, 0.0))
#: a band pixel has, on each axis, a neighbour within this many codes (texture and edges do not)
_FLAT = 1.0
#: values (rows x columns x planes) processed at once on the CPU
_CPU_TILE = 32768


def deband(
    x: torch.Tensor,
    *,
    threshold: float = THRESHOLD.default,
    radius: int = int(RADIUS.default),
    iterations: int = int(ITERATIONS.default),
    grain: float = GRAIN.default,
    seed: int = 0,
    channels: Literal["all", "luma", "chroma"] = "all",
) -> torch.Tensor:
    """Remove banding from ``x`` (``[C,H,W]`` or ``[B,C,H,W]`` float in [0,1], C = 1 or 3).

    Args:
        threshold: largest step smoothed, in 8-bit code values (1 code = 1/255): a pixel is
            smoothed only when it and all its references lie within this range. Steps up to
            this size are removed; edges and texture with more contrast are kept. 10 covers
            8-bit one-code bands and posterisation down to 32 levels (steps of 8–9 codes);
            lower it (2–4) to keep subtle flat shading such as cel shading.
        radius: reference distance in pixels for the first iteration (f3kdb's ``range``).
        iterations: passes with growing reach; pass *i* reaches ``radius·4**(i-1)`` pixels
            (default 16, 64, 256). Chroma is corrected from pass 2 on.
        grain: standard deviation, in 8-bit codes, of noise added to the pixels that changed
            (0 = none; the 8-bit writer dithers anyway).
        seed: seed of the reference offsets and the grain; the same seed gives the same output,
            bit for bit, on a given device, whether images come alone or in a batch.
        channels: ``all`` (luma and chroma), ``luma`` or ``chroma`` (full-range BT.601 YCbCr);
            grey input has one plane, debanded unless ``chroma``.

    Returns:
        A float tensor shaped like ``x`` on its device; pixels that were not smoothed come back
        exactly as they went in.
    """
    import torch

    _check(x, threshold, radius, iterations, grain, channels)
    if not x.dtype.is_floating_point:
        raise ValueError(f"deband: expected a float tensor in [0,1], got {x.dtype}")
    images = (x if x.ndim == 4 else x[None]).float()
    settings = _Settings(threshold * _CODE, radius, iterations, grain * _CODE, int(seed), channels)
    outs = [_deband_image(image, settings).to(x.dtype) for image in images]
    if x.ndim == 3:
        return outs[0]
    return torch.stack(outs)


def _check(x: torch.Tensor, threshold: float, radius: int, iterations: int, grain: float, channels: str) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or x.shape[-3] not in (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"deband: expected [C,H,W] or [B,C,H,W] with C = 1 or 3, got {shape}")
    THRESHOLD.check("threshold", threshold, " codes")
    RADIUS.check("radius", radius, " pixels")
    ITERATIONS.check("iterations", iterations)
    GRAIN.check("grain", grain, " codes")
    if channels not in CHANNELS:
        raise ValueError(f"deband: channels must be one of {', '.join(CHANNELS)}, got {channels!r}")


@dataclass(frozen=True)
class _Settings:
    threshold: float  # in [0,1] units
    radius: int
    iterations: int
    grain: float  # in [0,1] units
    seed: int
    channels: str


def _deband_image(image: torch.Tensor, settings: _Settings) -> torch.Tensor:
    """Deband one ``[C,H,W]`` float32 image (see the module docstring for the method)."""
    import torch

    from .color import luma as luma_of

    count, height, width = image.shape
    colour = count == 3
    luma_too = settings.channels != "chroma"
    chroma_too = colour and settings.channels != "luma"
    if not (luma_too or chroma_too):
        return image.clone()
    # the CPU generator keeps only 32 bits of a seed: fold the high half in rather than drop it
    wide = settings.seed & 0xFFFF_FFFF_FFFF_FFFF
    generator = torch.Generator(device=image.device).manual_seed((wide ^ (wide >> 32)) & 0xFFFF_FFFF)
    luma = luma_of(image)
    r = _radius(settings.radius, height, width)
    fine, gate = _pass(_pad(luma, r), r, settings.threshold, generator, flat_gate=True)
    assert gate is not None
    correction = None
    if settings.iterations > 1 and min(height, width) >= 2 * _GROWTH:
        planes = [_shrink(fine if luma_too else luma)]
        if chroma_too:
            planes.append(_chroma(_shrink(image)))
        small = _smooth_correction(torch.cat(planes), settings, settings.iterations - 1, generator)
        if not luma_too:
            small[0] = 0
        if colour:
            small = _ycbcr_delta_to_rgb(small[0:1], small[1:] if chroma_too else None)
        # a 2x2 block takes the smooth correction only where its four pixels are flat in luma
        correction = _repeat(small, *gate.shape[-2:]).mul_(gate)
    # adding the same amount to R, G and B changes luma by that amount and leaves chroma alone
    out = _compose(image, fine.sub_(luma) if luma_too else None, correction)
    if settings.grain > 0:
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        out.addcmul_(noise, out != image, value=settings.grain).clamp_(0.0, 1.0)
    return out


def _chroma(rgb: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 ``[Cb, Cr]`` of ``[3,H,W]`` (as :func:`enhance.ops.color.rgb_to_ycbcr`)."""
    from .color import rgb_to_ycbcr

    return rgb_to_ycbcr(rgb)[1:]


def _ycbcr_delta_to_rgb(luma: torch.Tensor, chroma: torch.Tensor | None) -> torch.Tensor:
    """The change in R, G, B (``[3,h,w]``) that changes Y, Cb, Cr by the given amounts."""
    rgb = luma.expand(3, -1, -1).clone()
    if chroma is not None:
        blue, red = chroma[0], chroma[1]
        rgb[0].add_(red, alpha=_RGB_FROM_CHROMA[0][1])
        rgb[1].add_(blue, alpha=_RGB_FROM_CHROMA[1][0]).add_(red, alpha=_RGB_FROM_CHROMA[1][1])
        rgb[2].add_(blue, alpha=_RGB_FROM_CHROMA[2][0])
    return rgb


def _smooth_correction(
    small: torch.Tensor, settings: _Settings, levels: int, generator: torch.Generator
) -> torch.Tensor:
    """What debanding ``small`` (``[N,h,w]``, a level of the pyramid) changes, with the levels
    below it (each ``_GROWTH`` times smaller) added in, smoothed 3x3."""
    r = _radius(settings.radius, *small.shape[-2:])
    out, _ = _pass(_pad(small, r), r, settings.threshold, generator, flat_gate=False)
    if levels > 1 and min(small.shape[-2:]) >= 2 * _GROWTH:
        deeper = _smooth_correction(_shrink(out), settings, levels - 1, generator)
        out += _upsample(deeper, *small.shape[-2:])
    # the references' mean is noisy pixel to pixel; upsampled, that noise would read as blotches
    return _box3(out.sub_(small))


def _compose(image: torch.Tensor, luma_delta: torch.Tensor | None, correction: torch.Tensor | None) -> torch.Tensor:
    """``image + luma_delta`` (on every plane) ``+ correction`` (half resolution, repeated over
    2x2 blocks), clamped to [0, 1]; in bands of rows on the CPU, so each band stays in cache."""
    import torch

    count, height, width = image.shape
    out = torch.empty_like(image)
    rows = max(2, 16 * _CPU_TILE // (count * width)) // 2 * 2 if image.device.type == "cpu" else height
    for top in range(0, height, rows):
        band = out[:, top : top + rows]
        if luma_delta is None:
            band.copy_(image[:, top : top + rows])
        else:
            torch.add(image[:, top : top + rows], luma_delta[:, top : top + rows], out=band)
        if correction is not None:
            _add_nearest(band, correction[:, top // 2 : (top + band.shape[1] + 1) // 2])
        band.clamp_(0.0, 1.0)
    return out


def _radius(radius: int, height: int, width: int) -> int:
    return max(2, min(radius, max(height, width)))


def _pad(planes: torch.Tensor, r: int) -> torch.Tensor:
    """``planes`` (``[N,H,W]``) with a border of ``r`` pixels that repeat the edge pixels. Plain
    copies: faster than ``F.pad(mode="replicate")`` on the CPU."""
    import torch

    count, height, width = planes.shape
    padded = torch.empty(count, height + 2 * r, width + 2 * r, dtype=planes.dtype, device=planes.device)
    padded[:, r : r + height, r : r + width] = planes
    padded[:, r : r + height, :r] = planes[:, :, :1]
    padded[:, r : r + height, r + width :] = planes[:, :, -1:]
    padded[:, :r] = padded[:, r : r + 1]
    padded[:, r + height :] = padded[:, r + height - 1 : r + height]
    return padded


def _pass(
    padded: torch.Tensor, r: int, threshold: float, generator: torch.Generator, *, flat_gate: bool
) -> torch.Tensor:
    """One f3kdb pass over the planes inside ``padded`` (``[N, H+2r, W+2r]``); returns ``[N,H,W]``.

    Reference indices ``centre ± (dy·width + dx)`` and ``centre ± (dy·width − dx)`` (flat, into
    a padded plane) are tabulated once for a tile; each tile of the image reads through them
    from a view that starts at a random row of the table, so the pattern does not repeat. On
    the CPU the tiles are small enough that the references and every temporary stay in cache,
    all arithmetic writes into reused buffers, and each plane is gathered on its own (1-D
    gathers are several times faster there); on a GPU one tile covers the image.
    """
    import torch

    count = padded.shape[0]
    height, width = padded.shape[1] - 2 * r, padded.shape[2] - 2 * r
    device = padded.device
    stride = padded.shape[2]
    on_cpu = device.type == "cpu"
    rows, cols = _tile(count, height, width) if on_cpu else (height, width)
    table_rows = min(height, max(4 * rows, 64))
    tables = _reference_tables(table_rows, cols, r, stride, generator, device)
    tiles = [(top, left) for top in range(0, height, rows) for left in range(0, width, cols)]
    starts = torch.randint(0, table_rows - rows + 1, (len(tiles),), generator=generator, device=device).tolist()
    out = torch.empty(count, height, width, dtype=padded.dtype, device=device)
    gate = (
        torch.empty(count, (height + 1) // 2, (width + 1) // 2, dtype=padded.dtype, device=device)
        if flat_gate
        else None
    )
    sources = padded.view(count, -1)
    buffers = torch.empty(8, count, rows * cols, dtype=padded.dtype, device=device)
    for (top, left), start in zip(tiles, starts, strict=True):
        n, w = min(rows, height - top), min(cols, width - left)
        m = n * w
        start = min(start, top)  # the views below must not begin before the first row
        first = (top - start) * stride + left
        ref = []
        for k, table in enumerate(tables):
            indices = table[start : start + n, :w].reshape(-1)
            target = buffers[k, :, :m]
            if on_cpu:
                for p in range(count):
                    torch.index_select(sources[p, first:], 0, indices, out=target[p])
            else:
                torch.index_select(sources[:, first:], 1, indices, out=target)
            ref.append(target.view(count, n, w))
        high, low, spare, extra = (buffers[k, :, :m].view(count, n, w) for k in range(4, 8))
        src = padded[:, top + r : top + r + n, left + r : left + r + w]
        # f3kdb's strict rule, as a spread: the pixel and its references lie within `threshold`
        torch.maximum(ref[0], ref[1], out=high)
        torch.maximum(high, ref[2], out=high)
        torch.maximum(high, ref[3], out=high)
        torch.maximum(high, src, out=high)
        torch.minimum(ref[0], ref[1], out=low)
        torch.minimum(low, ref[2], out=low)
        torch.minimum(low, ref[3], out=low)
        torch.minimum(low, src, out=low)
        ok = torch.lt(high.sub_(low), threshold, out=high)
        if gate is not None:
            flat = _flat(padded, r, top, n, left, w, low, spare, extra)
            _block_min(flat, out=gate[:, top // 2 : (top + n + 1) // 2, left // 2 : (left + w + 1) // 2])
            ok.mul_(flat)
        mean = ref[0].add_(ref[1]).add_(ref[2]).add_(ref[3]).mul_(0.25)
        # blend arithmetically with the 0/1 mask: torch.where is several times slower on the CPU
        torch.add(src, mean.sub_(src).mul_(ok), out=out[:, top : top + n, left : left + w])
    return out, gate


def _tile(count: int, height: int, width: int) -> tuple[int, int]:
    """Rows and columns of a CPU tile: about ``_CPU_TILE`` values per plane-stack, so that the
    references and temporaries stay in cache and each operation stays under torch's parallel
    grain (splitting such small operations across threads costs more than it saves)."""
    cols = min(width, 2048)
    rows = max(2, _CPU_TILE // (cols * count)) // 2 * 2
    return min(rows, height), cols


def _block_min(mask: torch.Tensor, *, out: torch.Tensor) -> None:
    """2x2 minimum of a 0/1 ``[N,n,w]`` tile into ``out`` (``[N, ceil(n/2), ceil(w/2)]``); an odd
    last row or column counts alone."""
    import torch

    if mask.shape[1] % 2:
        mask = torch.cat([mask, mask[:, -1:]], 1)
    if mask.shape[2] % 2:
        mask = torch.cat([mask, mask[:, :, -1:]], 2)
    torch.mul(mask[:, 0::2, 0::2], mask[:, 1::2, 0::2], out=out)
    out.mul_(mask[:, 0::2, 1::2]).mul_(mask[:, 1::2, 1::2])


def _flat(
    padded: torch.Tensor,
    r: int,
    top: int,
    n: int,
    left: int,
    w: int,
    scratch: torch.Tensor,
    out: torch.Tensor,
    spare: torch.Tensor,
) -> torch.Tensor:
    """1 where a pixel has, both horizontally and vertically, a neighbour within ``_FLAT`` codes,
    else 0, for the ``n``×``w`` tile at ``(top, left)`` of the planes in ``padded``. Band pixels
    pass, including those on a band's edge (flat along the band and towards its inside);
    texture rarely does. ``scratch``, ``out`` and ``spare`` are tile-shaped buffers."""
    import torch

    y, x = top + r, left + r
    centre = padded[:, y : y + n, x : x + w]

    def nearest(a: torch.Tensor, b: torch.Tensor, into: torch.Tensor) -> torch.Tensor:
        torch.sub(a, centre, out=into).abs_()
        return torch.minimum(into, torch.sub(b, centre, out=spare).abs_(), out=into)

    across = nearest(padded[:, y : y + n, x - 1 : x - 1 + w], padded[:, y : y + n, x + 1 : x + 1 + w], scratch)
    along = nearest(padded[:, y - 1 : y - 1 + n, x : x + w], padded[:, y + 1 : y + 1 + n, x : x + w], out)
    return torch.le(torch.maximum(across, along, out=out), _FLAT * _CODE, out=out)


def _reference_tables(
    rows: int, cols: int, r: int, stride: int, generator: torch.Generator, device: torch.device
) -> list[torch.Tensor]:
    """Flat indices (into a padded plane viewed from a tile's top-left border corner) of the four
    references of every pixel of a ``rows``×``cols`` tile: offsets at a uniform random angle and
    a uniform random distance in [1, r]."""
    import torch

    distance = torch.rand(rows, cols, generator=generator, device=device).mul_(r - 1).add_(1)
    angle = torch.rand(rows, cols, generator=generator, device=device).mul_(2 * math.pi)
    dy = (distance * torch.sin(angle)).round_().to(torch.int64)
    dx = (distance * torch.cos(angle)).round_().to(torch.int64)
    centre = (torch.arange(rows, device=device)[:, None] + r) * stride + (torch.arange(cols, device=device) + r)
    diagonal, anti = dy * stride + dx, dy * stride - dx
    index_type = torch.int64 if device.type == "cpu" else torch.int32
    return [(centre + o).to(index_type) for o in (diagonal, -diagonal, anti, -anti)]


def _shrink(image: torch.Tensor, factor: int = _GROWTH) -> torch.Tensor:
    """Means of ``factor``x``factor`` blocks of ``[N,H,W]`` (blocks cut by the edge average what
    they hold)."""
    import torch.nn.functional as F

    return F.avg_pool2d(image[None], factor, ceil_mode=True)[0]


def _upsample(small: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear upsampling of ``[N,h,w]`` to ``[N,height,width]`` by repeated doubling, where
    ``(h, w)`` is ``(height, width)`` halved (rounding up) some number of times."""
    import torch

    sizes = [(height, width)]
    while sizes[-1][0] > small.shape[-2] or sizes[-1][1] > small.shape[-1]:
        rows, cols = sizes[-1]
        sizes.append(((rows + 1) // 2, (cols + 1) // 2))
    for rows, cols in reversed(sizes[:-1]):
        bigger = torch.zeros(small.shape[0], rows, cols, dtype=small.dtype, device=small.device)
        _add_upsampled(bigger, small)
        small = bigger
    return small


def _repeat(small: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N,h,w]`` repeated over 2x2 blocks, cropped to ``[N,height,width]``: the pyramid's
    corrections vary slowly, so this costs nothing visible (a few hundredths of a code)."""
    return small.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)[:, :height, :width]


def _add_nearest(target: torch.Tensor, small: torch.Tensor) -> None:
    """``target += small`` repeated over 2x2 blocks (``[N,H,W]``, ``[N, ceil(H/2), ceil(W/2)]``):
    widened first, so that the broadcast runs along whole rows."""
    count, height, width = target.shape
    wide = small.repeat_interleave(2, dim=2)[:, :, :width]
    pairs = height // 2
    target[:, : 2 * pairs].view(count, pairs, 2, width).add_(wide[:, :pairs, None])
    if height % 2:
        target[:, -1].add_(wide[:, -1])


def _add_upsampled(target: torch.Tensor, small: torch.Tensor) -> None:
    """``target += upsample2x(small)`` (``[N,H,W]`` and ``[N, ceil(H/2), ceil(W/2)]``), bilinear
    with half-pixel centres and repeated edges (as ``F.interpolate(..., align_corners=False)``),
    in bands of rows so that nothing full-size is allocated on the CPU."""
    import torch

    count, height, width = target.shape
    h = small.shape[1]
    rows = max(2, 8 * _CPU_TILE // (count * width)) // 2 * 2 if target.device.type == "cpu" else 2 * h
    for top in range(0, height, rows):
        n = min(rows, height - top)
        # coarse rows top/2 .. (top+n-1)/2, plus one more on each side (edges repeat)
        first, last = top // 2, (top + n - 1) // 2
        lo, hi = max(first - 1, 0), min(last + 1, h - 1)
        band = _upsample_columns(small[:, lo : hi + 1], width)
        centre = band[:, first - lo : last - lo + 1]
        before = band[:, max(first - 1, 0) - lo : last - lo]
        after = band[:, first + 1 - lo : min(last + 1, h - 1) - lo + 1]
        if first == 0:
            before = torch.cat([band[:, :1], before], 1)
        if last == h - 1:
            after = torch.cat([after, band[:, -1:]], 1)
        tall = torch.stack([torch.lerp(centre, before, 0.25), torch.lerp(centre, after, 0.25)], 2)
        target[:, top : top + n] += tall.view(count, -1, width)[:, :n]


def _upsample_columns(x: torch.Tensor, width: int) -> torch.Tensor:
    """Bilinear 2x along the last axis of ``[N,k,w]``, cropped to ``width``."""
    import torch

    before = torch.cat([x[..., :1], x[..., :-1]], -1)
    after = torch.cat([x[..., 1:], x[..., -1:]], -1)
    wide = torch.stack([torch.lerp(x, before, 0.25), torch.lerp(x, after, 0.25)], -1)
    return wide.view(*x.shape[:-1], -1)[..., :width]


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3x3 mean of ``[N,H,W]`` with repeated edges (separable, plain slices)."""
    import torch

    wide = torch.cat([x[:, :, :1], x, x[:, :, -1:]], 2)
    rows = wide[:, :, :-2] + wide[:, :, 1:-1]
    rows += wide[:, :, 2:]
    tall = torch.cat([rows[:, :1], rows, rows[:, -1:]], 1)
    out = tall[:, :-2] + tall[:, 1:-1]
    out += tall[:, 2:]
    return out.mul_(1.0 / 9.0)
