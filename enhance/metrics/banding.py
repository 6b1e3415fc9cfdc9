"""A no-reference banding index in the spirit of Netflix's CAMBI (Contrast Aware Multiscale
Banding Index). 0 means no banding; higher is worse (on CAMBI's scale, about 5 starts to annoy;
a one-code 8-bit banded gradient at 1080p scores about 6-8, posterisation to 32 levels 25-30).

Written by hand because no maintained Python library computes CAMBI-style banding on tensors;
it follows the ideas of CAMBI (Tandon et al., PCS 2021, and VMAF's ``cambi.c``) without its
code. The algorithm, per image:

1. **Luma at high precision.** Full-range BT.601 luma of the sRGB input in units of
   ``1/2**(bits-8)`` of an 8-bit code (``bits=12``: sixteenths, so 8-bit content lands exactly
   on multiples of 16), after CAMBI's 2×2 sliding average.
2. **Scales.** Five scales, each a 2×2 average of the one before, rounded to integer levels;
   every scale uses the same window in its own pixels, so coarse scales see wider areas.
3. **Flat mask.** A pixel is *flat* when, in more than half of its 7×7 neighbourhood, pixels
   are within ``1/8`` code of their right and lower neighbours. Texture and edges fail; plateaus
   pass, also under the noise that dither leaves after a few scales of averaging.
4. **Plateaus and steps.** In a window around each flat pixel (about 1° of view at 4K: 63 px,
   scaled with ``sqrt(area)``), the levels held by at least 1% of the window's smooth pixels
   form *plateaus*: runs of levels with no gap wider than ``3/8`` code. A gradient or texture
   fills every level between its ends and forms one plateau; bands form separate ones. With
   ``p0`` the pixel's plateau and ``p`` the next one above or below, a step ``d`` (distance of
   their mean levels, up to ``max_step`` codes) gives
   ``c = w(d) · visible · p0·p / (p0 + p) / window_area``: largest when two wide plateaus a small
   step apart share the window.
5. **Visibility.** ``w(d)`` rises with the log of the step (CAMBI's suprathreshold contrast
   response, here ``1 + 1.6·log2(d)`` with ``d`` in 10-bit levels); a step counts only where its
   Weber contrast in linear light, ``ΔY/Y``, exceeds ``visibility``.
6. **Pooling.** Per scale, the mean of ``c`` over the worst ``topk`` fraction of all pixels;
   the index sums the scales weighted 16, 8, 4, 2, 1 (fine to coarse), as in CAMBI.

Where it departs from CAMBI, and why:

* **Any size and float input**: no 320–4096 px width limits, and the window scales with
  ``sqrt(area)`` rather than width (portrait images are common here).
* **Precision** 12 bits by default (CAMBI: 10), so that a smooth 16-bit gradient, re-quantised
  for analysis, shows steps too small to count.
* **Plateaus instead of single levels**: CAMBI compares the pixel's level with every level
  ``v ± d`` in the window, so a window spanning several levels of a *smooth* gradient counts
  ``v`` and ``v+4`` as a step; here only a gap between populated levels makes a step.
* **Noise-tolerant flatness and an averaging pyramid** (CAMBI: exact equality, decimation and a
  3×3 mode filter): posterised steps written with dither stay visible to the index at the
  coarser scales, while a dithered smooth gradient averages into a smooth one and scores 0.
* **Step range**: ``max_step`` (8-bit codes, default 10) covers one-code 8-bit bands and
  posterisation down to 32 levels (steps of 8–9 codes); CAMBI's ``max_log_contrast`` stops at 8.
* **Visibility** uses the sRGB curve on full-range values (CAMBI: BT.1886 on limited range) and
  defaults to a 1% Weber threshold (CAMBI: 1.9%, tuned for TV viewing): still images are
  inspected closely and band edges are sharp; ``visibility=0.019`` gives CAMBI's choice.
* **Luma only**, like CAMBI: chroma-only banding is not measured.
* **Windows on a block grid**: counts come from ``B×B`` blocks (``B`` = a third of the window)
  summed over 3×3 blocks, so each pixel uses its block's window; a few tensor passes per scale
  on any device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["banding_index", "banding_map", "DEFAULT_MAX_STEP"]

#: default largest step (8-bit codes) counted as banding: one-code bands up to 32-level posterisation
DEFAULT_MAX_STEP = 10.0

_SCALE_WEIGHTS = (16.0, 8.0, 4.0, 2.0, 1.0)
_REFERENCE_AREA = 3840 * 2160  # CAMBI's window of 63 px is about 1 degree at 4K
_REFERENCE_WINDOW = 63
_MASK_SIZE = 7
_MIN_SHARE = 0.01  # a level is "populated" when it holds this share of the window


def banding_index(
    x: torch.Tensor,
    *,
    max_step: float = DEFAULT_MAX_STEP,
    visibility: float = 0.01,
    topk: float = 0.6,
    window: int | None = None,
    bits: int = 12,
) -> float:
    """Banding index of one image (0 = none, higher = more visible banding).

    Args:
        x: ``[C,H,W]`` float in [0,1], sRGB-encoded, C = 1 (grey) or 3 (RGB); any device.
        max_step: largest luma step counted as banding, in 8-bit code values (0.25–32).
            The default 10 covers 8-bit one-code bands and posterisation down to 32 levels.
        visibility: Weber contrast ``ΔY/Y`` (linear light) below which a step is invisible.
        topk: fraction of pixels (the worst) averaged per scale (CAMBI: 0.6).
        window: window side in pixels at full resolution; default ``63·sqrt(H·W / 3840·2160)``,
            at least 9.
        bits: luma precision (10–12); 12 keeps smooth 16-bit gradients at zero.
    """
    score, _ = _analyse(x, max_step=max_step, visibility=visibility, topk=topk, window=window, bits=bits)
    return score


def banding_map(
    x: torch.Tensor,
    *,
    max_step: float = DEFAULT_MAX_STEP,
    visibility: float = 0.01,
    topk: float = 0.6,
    window: int | None = None,
    bits: int = 12,
) -> torch.Tensor:
    """Where banding is visible: ``[H', W']`` float on ``x``'s device, one value per block of about
    a third of the window (higher = more visible banding), the scales weighted as in the index.
    Arguments as :func:`banding_index`; ``topk`` does not affect the map."""
    _, heat = _analyse(x, max_step=max_step, visibility=visibility, topk=topk, window=window, bits=bits)
    return heat


# -- implementation ----------------------------------------------------------------------------


def _check(x: torch.Tensor, max_step: float, visibility: float, topk: float, bits: int) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[0] not in (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"banding: expected one image [C,H,W] with C = 1 or 3, got {shape}")
    if not 0.25 <= max_step <= 32:
        raise ValueError(f"banding: max_step must be between 0.25 and 32 codes, got {max_step}")
    if not 0 < visibility < 1:
        raise ValueError(f"banding: visibility must be in (0, 1), got {visibility}")
    if not 0 < topk <= 1:
        raise ValueError(f"banding: topk must be in (0, 1], got {topk}")
    if bits not in (10, 11, 12):
        raise ValueError(f"banding: bits must be 10, 11 or 12, got {bits}")


def _analyse(
    x: torch.Tensor, *, max_step: float, visibility: float, topk: float, window: int | None, bits: int
) -> tuple[float, torch.Tensor]:
    import torch
    import torch.nn.functional as F

    from ..ops.color import luma

    _check(x, max_step, visibility, topk, bits)
    height, width = int(x.shape[1]), int(x.shape[2])
    if window is None:
        window = round(_REFERENCE_WINDOW * math.sqrt(height * width / _REFERENCE_AREA))
    block = max(3, round(max(window, 9) / 3))
    per_code = 2 ** (bits - 8)
    with torch.no_grad():
        image = x.float().clamp(0, 1)
        levels = luma(image)[0] * (255.0 * per_code)
        # CAMBI's anti-dithering: 2x2 sliding average (edges repeat the last row/column)
        levels = F.pad(levels[None, None], (0, 1, 0, 1), mode="replicate")
        levels = F.avg_pool2d(levels, 2, stride=1)
        setup = _Setup(max_step, visibility, bits, block)
        score = 0.0
        heat = None
        for scale, weight in enumerate(_SCALE_WEIGHTS):
            if scale:
                if min(levels.shape[-2:]) < 2 * block:
                    break
                levels = F.avg_pool2d(levels, 2, ceil_mode=True)
            pooled, block_map = _scale_score(levels[0, 0].round(), setup, topk)
            score += weight * pooled
            block_map = block_map[None, None] * weight
            if heat is None:
                heat = block_map
            else:
                heat += F.interpolate(block_map, size=heat.shape[-2:], mode="nearest")
        assert heat is not None
    return float(score), heat[0, 0]


class _Setup:
    """Constants of one analysis: classes, step range, tables on the right device."""

    def __init__(self, max_step: float, visibility: float, bits: int, block: int) -> None:
        self.per_code = 2 ** (bits - 8)
        self.block = block
        self.max_d = max(1, math.ceil(max_step * self.per_code))
        # per-block histograms are kept modulo `classes` (levels 32 codes apart share a class)
        self.classes = 512 * self.per_code // 16
        self.visibility = visibility
        self.area = float((3 * block) ** 2)
        self.min_count = max(1.0, _MIN_SHARE * self.area)
        self.top_level = int(255 * self.per_code)
        self.bits = bits
        # neighbours this close count as flat: dither noise left after averaging, not a band edge
        self.flat_tolerance = self.per_code / 8
        # populated levels closer than this belong to one plateau. Levels are populated by pixels
        # within 2x the tolerance of their neighbours, so a gradient gentle enough to pass as flat
        # fills its levels with smaller gaps than this and makes a single plateau
        self.gap = 3 * self.flat_tolerance


def _scale_score(levels: torch.Tensor, setup: _Setup, topk: float) -> tuple[float, torch.Tensor]:
    """Pooled c-value of one scale and its per-block map."""
    import torch
    import torch.nn.functional as F

    height, width = levels.shape
    device = levels.device
    smooth, flat = _masks(levels, setup.flat_tolerance)
    block = setup.block
    rows, cols = -(-height // block), -(-width // block)
    pad = (0, cols * block - width, 0, rows * block - height)
    level_int = F.pad(levels, pad).long().clamp(0, setup.top_level)
    block_id = (
        torch.arange(rows, device=device).repeat_interleave(block)[:, None] * cols
        + torch.arange(cols, device=device).repeat_interleave(block)[None, :]
    )
    # flat pixels are the ones scored; smooth ones (a superset) populate the windows' histograms
    owner, level, n = _block_histogram(F.pad(flat, pad), block_id, level_int, setup.classes)
    block_map = torch.zeros(rows * cols, device=device)
    if n.numel() == 0:
        return 0.0, block_map.view(rows, cols)
    population = _block_histogram(F.pad(smooth, pad), block_id, level_int, setup.classes)
    c = _c_values((owner, level), population, rows, cols, setup).float()
    n = n.float()
    block_map.index_add_(0, owner, c * n)
    block_map /= float(block * block)
    # pool: mean of c over the worst `topk` share of all pixels (pixels that are not flat have c = 0)
    budget = topk * height * width
    order = torch.argsort(c, descending=True)
    c, n = c[order], n[order]
    before = torch.cumsum(n, 0) - n
    take = (budget - before).clamp(min=0).minimum(n)
    pooled = float((c * take).sum() / budget)
    return pooled, block_map.view(rows, cols)


def _block_histogram(
    mask: torch.Tensor, block_id: torch.Tensor, level: torch.Tensor, classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(block, level, count) for every level present among the ``mask`` pixels of each block.

    With few pixels per block (small images) the distinct (block, level) keys are sorted out
    directly; with many, one bincount over ``level mod classes`` per block is cheaper, and the
    mean level of a class recovers the level (two levels exactly ``classes`` apart inside one
    block would merge).
    """
    import torch

    chosen = level[mask]
    blocks = block_id[mask]
    total = (int(block_id.max()) + 1) * classes
    if total > 4 * chosen.numel():
        keys, counts = torch.unique(blocks * (level.max() + 1) + chosen, return_counts=True)
        span = int(level.max()) + 1
        return keys // span, keys % span, counts.double()
    keys = blocks * classes + (chosen & (classes - 1))
    counts = torch.bincount(keys, minlength=total)
    sums = torch.bincount(keys, weights=chosen.double(), minlength=total)
    items = counts.nonzero().squeeze(1)
    n = counts[items].double()
    return items // classes, (sums[items] / n).round().long(), n


def _masks(levels: torch.Tensor, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``smooth``: within ``2·tolerance`` of the right and lower neighbours (a gentle gradient,
    not a band edge); ``flat``: most of the 7x7 neighbourhood within ``tolerance`` (a plateau,
    perhaps under light noise; texture, edges and gradients fail)."""
    import torch
    import torch.nn.functional as F

    right = torch.zeros_like(levels)
    down = torch.zeros_like(levels)
    right[:, :-1] = (levels[:, :-1] - levels[:, 1:]).abs()
    down[:-1, :] = (levels[:-1, :] - levels[1:, :]).abs()
    steepest = torch.maximum(right, down)
    smooth = steepest <= 2 * tolerance
    r = _MASK_SIZE // 2
    counts = (steepest <= tolerance).float()[None, None]
    counts = F.avg_pool2d(counts, (_MASK_SIZE, 1), stride=1, padding=(r, 0), count_include_pad=True)
    counts = F.avg_pool2d(counts, (1, _MASK_SIZE), stride=1, padding=(0, r), count_include_pad=True)
    flat = counts[0, 0] * (_MASK_SIZE * _MASK_SIZE) > (_MASK_SIZE * _MASK_SIZE) / 2
    return smooth, flat


def _c_values(
    queries: tuple[torch.Tensor, torch.Tensor],
    population: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rows: int,
    cols: int,
    setup: _Setup,
) -> torch.Tensor:
    """c for each queried (block, level), from the plateaus in its block's window.

    Window counts are sparse: each populated (block, level) is added to the 3x3 blocks around
    its own, then the keys are merged and sorted. In each window, the levels with at least
    ``min_count`` smooth pixels form *plateaus*: runs of levels with gaps of at most ``gap``.
    A gradient or texture fills every level, so it makes one long run and no step; bands make
    separate runs. The step is the distance from the query's plateau mean to the next one's,
    above and below.
    """
    import torch

    from ..ops.color import srgb_to_linear

    owner, level = queries
    device = owner.device
    span = setup.top_level + 2 * setup.max_d + 2  # key = block * span + level (+ margin)
    p_owner, p_level, p_n = population
    by, bx = p_owner // cols, p_owner % cols
    spread = torch.arange(-1, 2, device=device)
    ny = (by[:, None, None] + spread[None, :, None]).expand(-1, 3, 3)
    nx = (bx[:, None, None] + spread[None, None, :]).expand(-1, 3, 3)
    inside = (ny >= 0) & (ny < rows) & (nx >= 0) & (nx < cols)
    keys = ((ny * cols + nx) * span + setup.max_d + p_level[:, None, None])[inside]
    weights = p_n[:, None, None].expand(-1, 3, 3)[inside]
    window_keys, inverse = torch.unique(keys, return_inverse=True)
    window_counts = torch.zeros(window_keys.numel(), dtype=p_n.dtype, device=device).index_add_(0, inverse, weights)

    populated = window_counts >= setup.min_count
    keys, counts = window_keys[populated], window_counts[populated]
    best = torch.zeros(owner.numel(), dtype=p_n.dtype, device=device)
    if keys.numel() == 0:
        return best
    blocks, levels = keys // span, (keys % span - setup.max_d).double()
    starts = torch.ones_like(populated[: keys.numel()])
    starts[1:] = (blocks[1:] != blocks[:-1]) | (levels[1:] - levels[:-1] > setup.gap)
    run = torch.cumsum(starts, 0) - 1
    runs = int(run[-1]) + 1
    run_count = torch.zeros(runs, dtype=counts.dtype, device=device).index_add_(0, run, counts)
    run_mean = torch.zeros(runs, dtype=counts.dtype, device=device).index_add_(0, run, counts * levels) / run_count
    run_block = blocks[starts]

    own = owner * span + setup.max_d + level
    at = torch.searchsorted(keys, own).clamp(max=keys.numel() - 1)
    mine = run[at]
    valid = keys[at] == own  # a level too rare to be populated has no plateau
    p0, m0 = run_count[mine], run_mean[mine]
    for other in (mine + 1, mine - 1):
        inside_runs = (other >= 0) & (other < runs)
        other = other.clamp(0, runs - 1)
        d = (run_mean[other] - m0).abs()
        found = valid & inside_runs & (run_block[other] == run_block[mine]) & (d <= setup.max_d)
        low = torch.minimum(run_mean[other], m0).clamp_min(0) / setup.top_level
        y0 = srgb_to_linear(low)
        visible = (srgb_to_linear(low + d / setup.top_level) - y0) > setup.visibility * y0
        p = run_count[other]
        c = _contrast_weight(d / 2 ** (setup.bits - 10)) * p0 * p / (p0 + p)
        best = torch.maximum(best, torch.where(found & visible, c, torch.zeros_like(c)))
    return best / setup.area


def _contrast_weight(step: torch.Tensor) -> torch.Tensor:
    """Suprathreshold response to a step of ``step`` 10-bit levels (CAMBI's table, as a smooth law)."""
    import torch

    return torch.where(step < 1, step, 1 + 1.6 * torch.log2(step.clamp_min(1)))
