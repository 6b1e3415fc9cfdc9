"""Separable image resampling on any device: area, lanczos3, antialiased bicubic, and MATLAB's
``imresize`` bicubic (the convention of super-resolution benchmarks).

Written by hand because no well-kept library does all of it on tensors: torch has antialiased
bicubic but no lanczos, no exact area for non-integer factors and no MATLAB boundary handling;
Pillow and OpenCV work on host arrays only.

One engine serves every method. For each axis and each output index a short table of
(input index, weight) taps is computed once (float64, cached per size, method and device) and the
axis is resampled by a loop over taps (``index_select`` times weight, accumulated), so memory stays
at the output size. When downscaling, the kernel is stretched by the factor (antialiasing); the
weights of each output sum to 1.

Methods:

* ``area``: exact area averaging. Each output pixel is the mean of the input it covers, partial
  pixels weighted by the covered fraction (like OpenCV ``INTER_AREA`` when downscaling). When
  upscaling an output pixel covers part of one input pixel, so the result is nearest-neighbour
  with a blend where an output pixel straddles two inputs (exactly nearest for integer factors).
  Whole-number factors run torch's ``avg_pool2d`` (down) and
  ``interpolate(mode="nearest-exact")`` (up), which compute exactly this.
* ``lanczos``: Lanczos-3 (``sinc(x) sinc(x/3)``), as Pillow ``LANCZOS``.
* ``bicubic``: Keys cubic with ``a = -0.5``, as Pillow ``BICUBIC`` and torch's
  ``interpolate(mode="bicubic", antialias=True)`` (not used: see :func:`_native`).
* ``matlab-bicubic``: MATLAB ``imresize(..., 'bicubic')``: the same cubic, but taps beyond the
  border are mirrored (symmetric padding) instead of dropped, and with ``scale`` given the weights
  come from the scale factor rather than the size ratio. The axis with the smaller scale is
  resampled first, as MATLAB does.

Pixel centres follow the usual half-pixel convention (``align_corners=False``): the output pixel
``i`` sits at input coordinate ``(i + 0.5) / scale - 0.5``. Lanczos and bicubic overshoot near
edges (values slightly outside [0, 1]); :func:`resize` does not clamp them (callers decide; the
``resize`` stage clamps), except with ``linear_light=True``, where the transfer functions clamp.

torch is imported inside the functions, so the stage can read :data:`METHODS` and
:func:`target_size` without importing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..convert import Layout

__all__ = ["METHODS", "Method", "resize", "resize_to", "target_size"]

Method = Literal["area", "lanczos", "bicubic", "matlab-bicubic"]
#: the resampling methods, in the order messages list them
METHODS: tuple[str, ...] = ("area", "lanczos", "bicubic", "matlab-bicubic")

Scale = float | tuple[float, float]

# kernel half-widths (in input pixels, before stretching for antialiasing)
_SUPPORT = {"lanczos": 3.0, "bicubic": 2.0, "matlab-bicubic": 2.0}


# -- target sizes (pure Python) -----------------------------------------------------------------


def _round_half_up(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def target_size(
    size: tuple[int, int],
    *,
    long_side: int | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
) -> tuple[int, int]:
    """The ``(height, width)`` an image of ``size = (height, width)`` should be resized to.

    Give exactly one of ``long_side`` (the longer side becomes this, aspect kept), ``scale``
    (both sides times this), or ``width`` and/or ``height`` (one alone: the other follows the
    aspect; both: exactly that size). Computed sides are rounded half up, and are at least 1 px.
    """
    in_h, in_w = (int(s) for s in size)
    given = {"long_side": long_side, "scale": scale, "width/height": width if width is not None else height}
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise ValueError(f"give exactly one of long_side, scale, or width/height (got {', '.join(chosen) or 'none'})")
    for name, value in (("long_side", long_side), ("width", width), ("height", height), ("scale", scale)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if scale is not None:
        return _round_half_up(in_h * scale), _round_half_up(in_w * scale)
    if width is not None and height is not None:
        return int(height), int(width)
    if long_side is not None:
        if in_h >= in_w:
            return int(long_side), _follow(in_w, long_side, in_h)
        return _follow(in_h, long_side, in_w), int(long_side)
    if width is not None:
        return _follow(in_h, width, in_w), int(width)
    assert height is not None
    return int(height), _follow(in_w, height, in_h)


def _follow(side: int, new: int, old: int) -> int:
    """``side * new / old`` rounded half up, at least 1, in integers (exact, so 500x333 to a long
    side of 128 gives 85 on every platform)."""
    return max(1, (2 * side * new + old) // (2 * old))


# -- tap tables ---------------------------------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``, Pillow's bicubic)."""
    import numpy as np

    ax = np.abs(x)
    near = (1.5 * ax - 2.5) * ax * ax + 1.0
    far = ((-0.5 * ax + 2.5) * ax - 4.0) * ax + 2.0
    return np.where(ax <= 1.0, near, np.where(ax < 2.0, far, 0.0))


def _lanczos3(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


@lru_cache(maxsize=16)
def _taps(n_in: int, n_out: int, scale: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights ``[n_out, taps]`` resampling one axis from ``n_in`` to ``n_out``.

    ``scale`` (output/input) drives the coordinate mapping and the antialiasing stretch.
    """
    import numpy as np

    centre = (np.arange(n_out, dtype=np.float64) + 0.5) / scale - 0.5
    if method == "area":
        half = 0.5 / scale  # half the output pixel's footprint, in input pixels
        support = half + 0.5
    else:
        stretch = max(1.0, 1.0 / scale)
        support = _SUPPORT[method] * stretch
    first = np.floor(centre - support).astype(np.int64)
    count = math.ceil(2 * support) + 2
    index = first[:, None] + np.arange(count, dtype=np.int64)[None, :]
    distance = centre[:, None] - index
    if method == "area":
        weight = np.clip(np.minimum(distance + half, 0.5) - np.maximum(distance - half, -0.5), 0.0, None)
    elif method == "lanczos":
        weight = _lanczos3(distance / stretch)
    else:
        weight = _cubic(distance / stretch)

    if method == "matlab-bicubic":
        # symmetric padding, as MATLAB: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
        index = np.mod(index, 2 * n_in)
        index = np.where(index >= n_in, 2 * n_in - 1 - index, index)
    else:
        # taps beyond the border are dropped and the rest renormalised (Pillow, torch)
        outside = (index < 0) | (index >= n_in)
        weight = np.where(outside, 0.0, weight)
        index = np.clip(index, 0, n_in - 1)

    total = weight.sum(axis=1, keepdims=True)
    empty = total[:, 0] == 0.0
    if empty.any():  # only when a given scale maps an output wholly outside: take the nearest pixel
        nearest = np.clip(np.rint(centre[empty]), 0, n_in - 1).astype(np.int64)
        index[empty, 0], weight[empty, 0], total[empty, 0] = nearest, 1.0, 1.0
    weight = weight / total

    used = np.flatnonzero(np.any(weight != 0.0, axis=0))
    keep = slice(used[0], used[-1] + 1)
    return np.ascontiguousarray(index[:, keep]), np.ascontiguousarray(weight[:, keep])


@lru_cache(maxsize=32)
def _tap_columns(
    n_in: int, n_out: int, scale: float, method: str, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The tap table on ``device`` as one (indices, weights) pair per tap, for :func:`_gather_axis`."""
    import torch

    index, weight = _taps(n_in, n_out, scale, method)
    index_t = torch.from_numpy(index.T.copy()).to(device)
    weight_t = torch.from_numpy(weight.T.astype("float32")).to(device)
    return list(zip(index_t.unbind(0), weight_t.unbind(0), strict=True))


#: input samples one block of the banded product spans, roughly (see :func:`_tap_blocks`)
_BLOCK_SPAN = 128


@lru_cache(maxsize=16)
def _tap_blocks(
    n_in: int, n_out: int, scale: float, method: str, device: torch.device
) -> list[tuple[int, int, int, int, torch.Tensor]]:
    """The tap table as small dense blocks ``(out0, out1, in0, in1, weights[out1-out0, in1-in0])``.

    Each run of outputs reads one short contiguous run of inputs, so the axis is resampled by a
    few small matrix products (about ``_BLOCK_SPAN`` inputs each) instead of a whole
    ``n_out x n_in`` matrix. Mirrored taps fold into the block that reads them.
    """
    import numpy as np
    import torch

    index, weight = _taps(n_in, n_out, scale, method)
    step = int(min(512, max(16, round(_BLOCK_SPAN * scale))))
    blocks = []
    for start in range(0, n_out, step):
        stop = min(start + step, n_out)
        rows, low = index[start:stop], int(index[start:stop].min())
        dense = np.zeros((stop - start, int(rows.max()) + 1 - low))
        np.add.at(dense, (np.arange(stop - start)[:, None], rows - low), weight[start:stop])
        matrix = torch.from_numpy(dense.astype("float32")).to(device)
        blocks.append((start, stop, low, low + dense.shape[1], matrix))
    return blocks


def _gather_axis(x: torch.Tensor, dim: int, n_out: int, scale: float, method: str) -> torch.Tensor:
    """Resample ``x`` along ``dim`` (-1 or -2) by a loop over taps: gather, weight, accumulate."""
    out: torch.Tensor | None = None
    for index, weight in _tap_columns(int(x.shape[dim]), n_out, scale, method, x.device):
        tap = x.index_select(dim, index)
        w = weight if dim == -1 else weight[:, None]
        out = tap.mul_(w) if out is None else out.addcmul_(tap, w)
    assert out is not None
    return out


def _banded_axis(x: torch.Tensor, dim: int, n_out: int, scale: float, method: str) -> torch.Tensor:
    """Resample ``x`` along ``dim`` (-1 or -2) by blocked matrix products (see :func:`_tap_blocks`)."""
    shape = list(x.shape)
    shape[dim] = n_out
    out = x.new_empty(shape)
    for start, stop, low, high, matrix in _tap_blocks(int(x.shape[dim]), n_out, scale, method, x.device):
        if dim == -1:
            out[..., start:stop] = x[..., low:high] @ matrix.T
        else:
            out[..., start:stop, :] = matrix @ x[..., low:high, :]
    return out


def _resample_axis(x: torch.Tensor, dim: int, n_out: int, scale: float, method: str) -> torch.Tensor:
    """Resample ``x`` (float32) along ``dim`` (-1 or -2) to ``n_out`` samples.

    On CPU, gathering along the last axis is slow (strided copies, tens of times slower than
    along rows), so the CPU uses the blocked products; elsewhere the tap loop, which is exact in
    float32 whatever the matmul precision settings (TF32 would cost a quarter grey level).
    """
    if x.device.type == "cpu":
        return _banded_axis(x, dim, n_out, scale, method)
    return _gather_axis(x, dim, n_out, scale, method)


# -- the op -------------------------------------------------------------------------------------


def _scales(size: tuple[int, int], in_hw: tuple[int, int], scale: Scale | None) -> tuple[float, float]:
    if scale is None:
        return size[0] / in_hw[0], size[1] / in_hw[1]
    sy, sx = (float(scale), float(scale)) if isinstance(scale, (int, float)) else (float(scale[0]), float(scale[1]))
    if not (sy > 0 and sx > 0):
        raise ValueError(f"scale must be > 0, got {scale}")
    for n_out, n_in, s in zip(size, in_hw, (sy, sx), strict=True):
        if abs(n_out - n_in * s) >= 1.0:
            raise ValueError(f"size {tuple(size)} does not match scale {scale} of an input of {tuple(in_hw)} (H, W)")
    return sy, sx


def _native(x: torch.Tensor, size: tuple[int, int], method: str, given_scale: bool) -> torch.Tensor | None:
    """torch's own op where it computes exactly the same thing, faster, else None.

    Only whole-number ``area``. Not ``bicubic``: torch's antialiased interpolate is the same
    filter, but computes its weights in float32 (up to 2.3e-5 off), is wrong when the output is
    one pixel wide (torch 2.15 CPU: 0.02 to 0.07 off Pillow), and on CUDA refuses downscales of
    about 45x and more ("Too much shared memory required").
    """
    import torch.nn.functional as F

    (in_h, in_w), (out_h, out_w) = x.shape[-2:], size
    if given_scale:
        return None
    if method == "area" and in_h % out_h == 0 and in_w % out_w == 0:
        return F.avg_pool2d(x, kernel_size=(in_h // out_h, in_w // out_w))
    if method == "area" and out_h % in_h == 0 and out_w % in_w == 0:
        return F.interpolate(x, size=size, mode="nearest-exact")  # whole-number upscale: exactly nearest
    return None


def resize(
    x: torch.Tensor,
    size: Sequence[int] | None = None,
    method: Method = "lanczos",
    *,
    linear_light: bool = False,
    scale: Scale | None = None,
    layout: Layout | str | None = None,
) -> torch.Tensor:
    """Resample ``x`` (``[..., C, H, W]`` float) to ``size = (height, width)`` on its own device.

    Args:
        x: float32/16/bf16 tensor (half types are computed in float32 and returned as given).
        size: output ``(height, width)``; may be left out when ``scale`` is given (then each side
            is ``in * scale`` rounded half up).
        method: ``area``, ``lanczos``, ``bicubic`` or ``matlab-bicubic`` (see the module doc).
        linear_light: resample in linear light (sRGB decoded, resampled, encoded again), so that
            fine light/dark detail keeps its brightness; the result is then clamped to [0, 1].
        scale: factor, or ``(sy, sx)``, that the coordinate mapping uses instead of the size ratio,
            as MATLAB's ``imresize`` does when given a scale. ``size`` must then be within one
            pixel of ``in * scale``.
        layout: the axes of ``x`` when it is not ``[..., H, W]`` planes: ``"BHWC"`` (ComfyUI's
            IMAGE), ``"HWC"`` (see :mod:`enhance.convert`); the result comes back alike.

    Returns:
        The resampled tensor, in ``x``'s dtype; ``x`` itself when the size does not change.
    """
    import torch

    if layout is not None:
        from ..convert import channels_first, restore_layout

        planes = channels_first(x, layout)
        return restore_layout(resize(planes, size, method, linear_light=linear_light, scale=scale), layout)

    if method not in METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of: {', '.join(METHODS)}")
    if x.ndim < 2 or not x.is_floating_point():
        raise TypeError(f"resize needs a floating-point [..., H, W] tensor, got {x.dtype} {tuple(x.shape)}")
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    if size is None:
        if scale is None:
            raise ValueError("give size=(height, width) or scale")
        sy, sx = (scale, scale) if isinstance(scale, (int, float)) else scale
        size = (_round_half_up(in_hw[0] * sy), _round_half_up(in_hw[1] * sx))
    out_hw = (int(size[0]), int(size[1]))
    if min(out_hw) < 1:
        raise ValueError(f"size must be positive, got {tuple(size)}")
    sy, sx = _scales(out_hw, in_hw, scale)
    if out_hw == in_hw and sy == 1.0 and sx == 1.0:
        return x

    lead = x.shape[:-2]
    work = x.reshape(-1, 1, *in_hw) if x.ndim < 4 else x.reshape(-1, x.shape[-3], *in_hw)
    work = work.to(torch.float32)
    if linear_light:
        from .color import srgb_to_linear

        work = srgb_to_linear(work)

    out = _native(work, out_hw, method, scale is not None)
    if out is None:
        out = work.contiguous()
        # the axis that shrinks most first: less work for the second pass (and MATLAB's order)
        passes = [(-2, out_hw[0], sy), (-1, out_hw[1], sx)]
        if sx < sy:
            passes.reverse()
        for dim, n_out, s in passes:
            if n_out != out.shape[dim] or s != 1.0:
                out = _resample_axis(out, dim, n_out, s, method)

    if linear_light:
        from .color import linear_to_srgb

        out = linear_to_srgb(out)
    return out.reshape(*lead, *out_hw).to(x.dtype)


def resize_to(
    x: torch.Tensor,
    *,
    long_side: int | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    method: Method = "lanczos",
    linear_light: bool = False,
    layout: Layout | str | None = None,
) -> torch.Tensor:
    """:func:`resize` to a target given as in :func:`target_size` (a ``scale`` also drives the
    coordinate mapping, as MATLAB does); ``layout`` as for :func:`resize`."""
    if layout is not None:
        from ..convert import channels_first, restore_layout

        planes = channels_first(x, layout)
        out = resize_to(
            planes, long_side=long_side, width=width, height=height, scale=scale, method=method,
            linear_light=linear_light,
        )  # fmt: skip
        return restore_layout(out, layout)
    size = target_size(
        (int(x.shape[-2]), int(x.shape[-1])), long_side=long_side, width=width, height=height, scale=scale
    )
    return resize(x, size, method, linear_light=linear_light, scale=scale)
