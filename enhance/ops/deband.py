"""Debanding in the f3kdb / libplacebo family, as vectorised torch (CPU and CUDA).

Written by hand: no maintained library debands tensors on a GPU. The method, per channel of a
luma/chroma (full-range BT.601 YCbCr) image:

1. **Random references.** For each pixel, draw a random offset ``(dx, dy)`` within ``radius``
   and read the four references at ``(±dx, ±dy)`` around it (f3kdb's and ffmpeg's pattern).
2. **Threshold.** Replace the pixel by the references' mean only where *every* reference is
   within ``threshold`` of it (f3kdb's strict mode) and the pixel has, on each axis, a
   neighbour within one code: a band is flat next to its pixels, texture and edges are not.
   So edges and texture pass untouched, bit for bit.
3. **Iterations with growing radius.** Iteration *i* works on the image averaged down by
   ``2**(i-1)`` with the same radius in its own pixels, i.e. an effective radius of
   ``radius·2**(i-1)``, and adds its smooth correction back (bilinear). Wide posterised bands
   need the large radii; the pyramid keeps them cheap (each level costs a quarter of the one
   before), and the full-resolution pass has already turned every step into a ramp, so the
   smooth corrections never meet a hard edge.
4. **Grain.** Optional noise on the pixels that changed, so that residual steps (e.g. in a
   16-bit file viewed with strong contrast) read as grain; the 8-bit writer's dither already
   does this job when writing 8 bits.

The result is float: write it with dither (the default 8-bit writer) or in 16 bits, or the
rounding brings the bands back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["deband", "CHANNELS"]

#: which planes of the YCbCr image are debanded
CHANNELS = ("all", "luma", "chroma")

_CODE = 1.0 / 255.0
#: a band pixel has, on each axis, a neighbour within this many codes (texture and edges do not)
_FLAT = 1.0
#: tile (rows, columns) processed at once on the CPU: references and temporaries stay in cache
_CPU_TILE = (8, 1024)


def deband(
    x: torch.Tensor,
    *,
    threshold: float = 10.0,
    radius: int = 16,
    iterations: int = 4,
    grain: float = 0.0,
    seed: int = 0,
    channels: Literal["all", "luma", "chroma"] = "all",
) -> torch.Tensor:
    """Remove banding from ``x`` (``[C,H,W]`` or ``[B,C,H,W]`` float in [0,1], C = 1 or 3).

    Args:
        threshold: largest difference, in 8-bit code values (1 code = 1/255), between a pixel
            and each of its references for the pixel to be smoothed. Steps up to this size are
            removed; edges and texture with more contrast are kept. 10 covers 8-bit one-code
            bands and posterisation down to 32 levels (steps of 8–9 codes); lower it (2–4)
            to keep subtle flat-shaded detail such as cel shading.
        radius: reference distance in pixels for the first iteration (f3kdb's ``range``).
        iterations: passes; pass *i* reaches ``radius·2**(i-1)`` pixels (default 16…128).
        grain: standard deviation, in 8-bit codes, of noise added to the pixels that changed
            (0 = none; the 8-bit writer dithers anyway).
        seed: seed of the reference offsets and the grain; the same seed gives the same output,
            bit for bit, on a given device.
        channels: ``all`` (luma and chroma), ``luma`` or ``chroma`` (RGB input; grey input has
            one plane, debanded unless ``chroma``).

    Returns:
        A float tensor shaped like ``x`` on its device.
    """
    import torch

    from .color import rgb_to_ycbcr, ycbcr_to_rgb

    _check(x, threshold, radius, iterations, grain, channels)
    batched = x.ndim == 4
    images = x if batched else x[None]
    if not images.dtype.is_floating_point:
        raise ValueError(f"deband: expected a float tensor in [0,1], got {images.dtype}")
    images = images.float()
    batch, count, height, width = images.shape
    chosen = _planes(count, channels)
    if not chosen:
        return x.clone()
    # the CPU generator keeps only 32 bits of a seed: fold the high half in rather than drop it
    wide = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    generator = torch.Generator(device=images.device).manual_seed((wide ^ (wide >> 32)) & 0xFFFF_FFFF)
    settings = (threshold * _CODE, radius, iterations, grain * _CODE, generator)
    if len(chosen) == count:
        # every plane by the same rule: no colour conversion needed, and untouched pixels stay exact
        out = _deband_planes(images.reshape(-1, height, width).contiguous(), *settings)
        out = out.clamp_(0.0, 1.0).view(images.shape)
    else:
        planes = rgb_to_ycbcr(images)
        work = planes[:, chosen].reshape(-1, height, width).contiguous()
        result = _deband_planes(work, *settings)
        touched = (result != work).view(batch, len(chosen), height, width).any(dim=1, keepdim=True)
        planes[:, chosen] = result.view(batch, len(chosen), height, width)
        # where nothing changed, hand back the input exactly (the YCbCr round trip is not exact)
        out = torch.where(touched, ycbcr_to_rgb(planes).clamp_(0.0, 1.0), images)
    out = out.to(x.dtype)
    return out if batched else out[0]


def _check(x: torch.Tensor, threshold: float, radius: int, iterations: int, grain: float, channels: str) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or x.shape[-3] not in (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"deband: expected [C,H,W] or [B,C,H,W] with C = 1 or 3, got {shape}")
    if not 0 < threshold <= 255:
        raise ValueError(f"deband: threshold must be in (0, 255] codes, got {threshold}")
    if not 1 <= radius <= 256:
        raise ValueError(f"deband: radius must be 1–256 pixels, got {radius}")
    if not 1 <= iterations <= 8:
        raise ValueError(f"deband: iterations must be 1–8, got {iterations}")
    if not 0 <= grain <= 32:
        raise ValueError(f"deband: grain must be 0–32 codes, got {grain}")
    if channels not in CHANNELS:
        raise ValueError(f"deband: channels must be one of {', '.join(CHANNELS)}, got {channels!r}")


def _planes(count: int, channels: str) -> list[int]:
    if count == 1:
        return [] if channels == "chroma" else [0]
    return {"all": [0, 1, 2], "luma": [0], "chroma": [1, 2]}[channels]


def _deband_planes(
    planes: torch.Tensor, threshold: float, radius: int, iterations: int, grain: float, generator: torch.Generator
) -> torch.Tensor:
    """Deband ``[N,H,W]`` float32 planes: a full-resolution pass, then the coarser levels'
    corrections, which only flat pixels take (so texture and edges stay exact)."""
    import torch

    height, width = planes.shape[-2:]
    r = _radius(radius, height, width)
    out, gate = _pass(_pad(planes, r), r, threshold, generator, flat_gate=True)
    if iterations > 1 and min(height, width) >= 4:
        correction = _coarse_correction(out, threshold, radius, iterations - 1, generator)
        # a 2x2 block takes the smooth correction only where all its pixels are flat; the
        # correction varies slowly, so repeating it over the block (nearest) is accurate enough
        _add_nearest(out, correction.mul_(gate))
    if grain > 0:
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        out.addcmul_(noise, out != planes, value=grain)
    return out


def _coarse_correction(
    image: torch.Tensor, threshold: float, radius: int, levels: int, generator: torch.Generator
) -> torch.Tensor:
    """What debanding ``image`` (``[N,H,W]``) averaged down by 2 changes, at that half resolution
    (recursive: each level adds the corrections of the levels below it)."""
    small = _half(image)
    r = _radius(radius, *small.shape[-2:])
    out, _ = _pass(_pad(small, r), r, threshold, generator, flat_gate=False)
    if levels > 1 and min(small.shape[-2:]) >= 4:
        _add_upsampled(out, _coarse_correction(out, threshold, radius, levels - 1, generator))
    # the references' mean is noisy pixel to pixel; upsampled, that noise would read as blotches
    return _box3(out.sub_(small))


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
    rows = min(height, _CPU_TILE[0]) if on_cpu else height
    cols = min(width, _CPU_TILE[1]) if on_cpu else width
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
    buffers = torch.empty(7, count, rows * cols, dtype=padded.dtype, device=device)
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
        high, low, spare = (buffers[k, :, :m].view(count, n, w) for k in range(4, 7))
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
            flat = _flat(padded, r, top, n, left, w, low, spare)
            _block_min(flat, out=gate[:, top // 2 : (top + n + 1) // 2, left // 2 : (left + w + 1) // 2])
            ok.mul_(flat)
        mean = ref[0].add_(ref[1]).add_(ref[2]).add_(ref[3]).mul_(0.25)
        # blend arithmetically with the 0/1 mask: torch.where is several times slower on the CPU
        torch.add(src, mean.sub_(src).mul_(ok), out=out[:, top : top + n, left : left + w])
    return out, gate


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
    padded: torch.Tensor, r: int, top: int, n: int, left: int, w: int, scratch: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """1 where a pixel has, both horizontally and vertically, a neighbour within ``_FLAT`` codes,
    else 0, for the ``n``×``w`` tile at ``(top, left)`` of the planes in ``padded``. Band pixels
    pass, including those on a band's edge (flat along the band and towards its inside);
    texture rarely does. ``scratch`` and ``out`` are tile-shaped buffers."""
    import torch

    y, x = top + r, left + r
    centre = padded[:, y : y + n, x : x + w]

    def nearest(a: torch.Tensor, b: torch.Tensor, into: torch.Tensor) -> torch.Tensor:
        torch.sub(a, centre, out=into).abs_()
        return torch.minimum(into, torch.sub(b, centre).abs_(), out=into)

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


def _half(image: torch.Tensor) -> torch.Tensor:
    """2x2 means of ``[N,H,W]`` (an odd last row or column is averaged with itself)."""
    import torch

    height, width = image.shape[-2:]
    if height % 2:
        image = torch.cat([image, image[:, -1:]], 1)
    if width % 2:
        image = torch.cat([image, image[:, :, -1:]], 2)
    out = image[:, 0::2, 0::2] + image[:, 1::2, 0::2]
    out += image[:, 0::2, 1::2]
    out += image[:, 1::2, 1::2]
    return out.mul_(0.25)


def _add_nearest(target: torch.Tensor, small: torch.Tensor) -> None:
    """``target += small`` repeated over 2x2 blocks (``[N,H,W]``, ``[N, ceil(H/2), ceil(W/2)]``)."""
    count, height, width = target.shape
    h, w = height // 2, width // 2
    target[:, : 2 * h, : 2 * w].view(count, h, 2, w, 2).add_(small[:, :h, None, :w, None])
    if height % 2:
        target[:, -1, : 2 * w].view(count, w, 2).add_(small[:, -1, :w, None])
    if width % 2:
        target[:, : 2 * h, -1].view(count, h, 2).add_(small[:, :h, -1, None])
    if height % 2 and width % 2:
        target[:, -1, -1].add_(small[:, -1, -1])


def _add_upsampled(target: torch.Tensor, small: torch.Tensor) -> None:
    """``target += upsample2x(small)`` (``[N,H,W]`` and ``[N, ceil(H/2), ceil(W/2)]``), bilinear
    with half-pixel centres and repeated edges (as ``F.interpolate(..., align_corners=False)``),
    in bands of rows so that nothing full-size is allocated on the CPU."""
    import torch

    count, height, width = target.shape
    h = small.shape[1]
    rows = min(height, 2 * _CPU_TILE[0]) if target.device.type == "cpu" else 2 * h
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
