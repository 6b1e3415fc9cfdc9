"""NIQE (Mittal et al., "Making a completely blind image quality analyzer"), on any device.

The figure follows basicsr's ``calculate_niqe`` (itself a port of the official MATLAB release:
Y of MATLAB ``rgb2ycbcr`` rounded, 96×96 blocks without overlap, two scales, 36 AGGD features per
block, the pristine multivariate-Gaussian model from ``niqe_pris_params.npz`` that basicsr ships)
and is tested against it. basicsr runs it in numpy, block by block (about 24 s for a 4096² image
on one CPU core); this is the same computation batched over all blocks in torch, so it runs on
the GPU in a fraction of a second. The pristine parameters are basicsr's file, so the metric
needs the ``realesrgan`` extra (which brings basicsr) and says so when it is missing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, InputError
from ._util import levels8, planes

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..image import Image

__all__ = ["niqe", "NIQE_BLOCK"]

NIQE_BLOCK = 96
# AGGD shape search grid of the reference implementation: 0.2, 0.201, ..., 10.0
_GRID_START, _GRID_STEP, _GRID_SIZE = 0.2, 0.001, 9801
# neighbour products: horizontal, vertical, main and anti-diagonal (numpy.roll shifts per block)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@cache
def _pristine() -> dict[str, np.ndarray]:
    """basicsr's pristine model: mean (36), covariance (36×36) and the 7×7 Gaussian window."""
    import numpy as np

    from ..compat import import_reference

    try:
        metrics = import_reference("basicsr.metrics")
    except ConfigError as exc:
        raise ConfigError(f"metric 'niqe' uses basicsr's pristine-image model, but {exc}") from None
    path = Path(metrics.__file__).with_name("niqe_pris_params.npz")
    if not path.is_file():
        raise ConfigError(f"metric 'niqe': basicsr is installed but {path} is missing; reinstall basicsr")
    with np.load(path) as data:
        return {key: data[key].copy() for key in ("mu_pris_param", "cov_pris_param", "gaussian_window")}


def _gamma_ratio_grid(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The shape grid and ``Γ(2/γ)² / (Γ(1/γ)·Γ(3/γ))`` on it (increasing in γ)."""
    import torch

    gam = _GRID_START + _GRID_STEP * torch.arange(_GRID_SIZE, dtype=torch.float64)
    r = torch.exp(2 * torch.lgamma(2 / gam) - torch.lgamma(1 / gam) - torch.lgamma(3 / gam))
    return gam.to(device, dtype), r.to(device, dtype)


def _nearest_on_grid(value: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Index of the grid entry nearest to each value (first on ties, as ``numpy.argmin``)."""
    import torch

    right = torch.searchsorted(grid, value.contiguous()).clamp(1, grid.numel() - 1)
    left = right - 1
    pick_right = (grid[right] - value).square() < (grid[left] - value).square()
    return torch.where(pick_right, right, left)


def _aggd(blocks: torch.Tensor, grid: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Asymmetric generalised Gaussian fit per block: shape α, left and right scales β_l, β_r.

    ``blocks`` is ``[N, h, w]``; a block without negative or positive values gives NaN scales and
    α = 0.2, exactly as the reference does (its argmin over an all-NaN row is the first entry).
    """
    import torch

    gam, r_gam = grid
    flat = blocks.flatten(1)
    negative, positive = flat < 0, flat > 0
    # block statistics are float32 scalars in the reference: round where it does, so the grid
    # search below lands on the same entry
    f32 = torch.float32
    left_std = (flat.square() * negative).sum(1).div(negative.sum(1)).to(f32).sqrt()
    right_std = (flat.square() * positive).sum(1).div(positive.sum(1)).to(f32).sqrt()
    gammahat = left_std / right_std
    rhat = flat.abs().mean(1).to(f32).square() / flat.square().mean(1).to(f32)
    rhatnorm = (rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1).square()).to(blocks.dtype)
    left_std, right_std = left_std.to(blocks.dtype), right_std.to(blocks.dtype)
    index = _nearest_on_grid(torch.nan_to_num(rhatnorm, nan=0.0), r_gam)
    alpha = torch.where(torch.isnan(rhatnorm), gam[0], gam[index])
    scale = torch.exp(0.5 * (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)))
    return alpha, left_std * scale, right_std * scale


def _block_features(normalized: torch.Tensor, size: int, grid: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The 18 NIQE features of each ``size``×``size`` block of ``normalized`` ``[H,W]``: ``[N, 18]``."""
    import torch

    h, w = normalized.shape
    blocks = normalized.reshape(h // size, size, w // size, size).permute(0, 2, 1, 3).reshape(-1, size, size)
    alpha, beta_l, beta_r = _aggd(blocks, grid)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        alpha, beta_l, beta_r = _aggd(blocks * torch.roll(blocks, shift, dims=(1, 2)), grid)
        mean = (beta_r - beta_l) * torch.exp(torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha))
        features += [alpha, mean, beta_l, beta_r]
    return torch.stack(features, dim=1)


def _normalize(y: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients (Eq. 1), edges replicated.

    The 7×7 Gaussian window is separable (rank 1), so the local moments are two 7-tap passes,
    written as sums of shifted slices: float64 convolutions have no fast CPU kernel.
    """
    import torch
    import torch.nn.functional as F

    k = taps.numel()
    pad = k // 2
    moments = F.pad(torch.stack([y, y.square()]).unsqueeze(0), (pad, pad, pad, pad), mode="replicate")[0]
    h, w = y.shape
    weights = taps.tolist()
    rows = moments[:, :h, :] * weights[0]
    for i in range(1, k):
        rows.add_(moments[:, i : i + h, :], alpha=weights[i])
    local = rows[:, :, :w] * weights[0]
    for i in range(1, k):
        local.add_(rows[:, :, i : i + w], alpha=weights[i])
    # the reference's arrays are float32 from here on (scipy accumulates in float64, stores float32)
    mu, second = local[0].float(), local[1].float()
    sigma = (second - mu.square()).abs().sqrt()
    return ((y.float() - mu) / (sigma + 1)).double()


def _half(y: torch.Tensor) -> torch.Tensor:
    """MATLAB ``imresize(y, 0.5)`` (antialiased bicubic) of ``[H,W]`` values in [0,1], in float32
    like the reference."""
    from ..ops.resampling import resize

    h, w = y.shape
    return resize(y[None].float(), size=(h // 2, w // 2), method="matlab-bicubic", scale=0.5)[0].to(y.dtype)


def niqe(x: Image | torch.Tensor) -> float:
    """NIQE of an image (lower is more natural); needs at least two 96×96 blocks.

    Raises:
        ConfigError: basicsr (the ``realesrgan`` extra) is not installed.
        InputError: the image is smaller than two 96×96 blocks.
    """
    import torch

    from ..ops.color import rgb_to_y_bt601

    pristine = _pristine()
    x = planes(x)
    device = x.device
    dtype = torch.float64  # float32 moves the AGGD fits off the reference's grid (errors ~3e-3)
    # 8-bit code values, MATLAB's Y, rounded "for being consistent with MATLAB's result"
    y = (rgb_to_y_bt601(levels8(x).to(dtype) / 255.0) * 255.0)[0].round()
    rows, cols = y.shape[0] // NIQE_BLOCK, y.shape[1] // NIQE_BLOCK
    if rows * cols < 2:
        size = f"{x.shape[2]}x{x.shape[1]}"
        raise InputError(f"NIQE needs an image of at least 192x96 pixels (two 96x96 blocks), got {size}")
    y = y[: rows * NIQE_BLOCK, : cols * NIQE_BLOCK]
    window = torch.from_numpy(pristine["gaussian_window"]).to(device, dtype)
    taps = window.sum(dim=1)  # the window is the outer product of these taps
    grid = _gamma_ratio_grid(dtype, device)

    features = [_block_features(_normalize(y, taps), NIQE_BLOCK, grid)]
    y = _half(y / 255.0) * 255.0
    features.append(_block_features(_normalize(y, taps), NIQE_BLOCK // 2, grid))
    dist = torch.cat(features, dim=1).cpu()

    mu_dist = torch.nanmean(dist, dim=0)
    complete = dist[~torch.isnan(dist).any(dim=1)]
    if complete.shape[0] < 2:
        raise InputError("NIQE cannot be computed: fewer than two of its 96x96 blocks have texture (a flat image?)")
    cov_dist = torch.cov(complete.T)
    mu_pris = torch.from_numpy(pristine["mu_pris_param"]).flatten()
    cov_pris = torch.from_numpy(pristine["cov_pris_param"])
    difference = mu_pris - mu_dist
    inverse = torch.linalg.pinv((cov_pris + cov_dist) / 2)
    return float((difference @ inverse @ difference).sqrt())
