"""Colour transforms shared by the stages and metrics (tensors ``[..., C, H, W]`` in [0,1])."""

from __future__ import annotations

import torch

__all__ = ["srgb_to_linear", "linear_to_srgb", "luma", "rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y_bt601"]


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values to linear light (IEC 61966-2-1 piecewise curve)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear-light values to sRGB encoding (inverse of :func:`srgb_to_linear`)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


# Full-range BT.601 (JPEG) YCbCr: exactly invertible, chroma centred on 0.5.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_YCC = (LUMA_WEIGHTS, (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


def _mix(x: torch.Tensor, matrix: tuple[tuple[float, ...], ...], offset: tuple[float, ...]) -> torch.Tensor:
    if x.shape[-3] != 3:
        raise ValueError(f"expected 3 channels at dim -3, got shape {tuple(x.shape)}")
    m = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    b = torch.tensor(offset, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", m, x) + b


def luma(x: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 luma ``[..., 1, H, W]`` of ``[..., C, H, W]`` planes: the Y of
    :func:`rgb_to_ycbcr`, what "gray" means for a colour image. One-channel (gray) planes are
    their own luma and come back as they are (not copied).

    The one luma of enhance: metrics, the deband op and the upscale stage all use it. Three
    multiply-adds, not the full colour matrix: the deband op runs it on every full-size image.
    """
    channels = x.shape[-3]
    if channels == 1:
        return x
    if channels != 3:
        raise ValueError(f"luma: expected 1 or 3 channels at dim -3, got shape {tuple(x.shape)}")
    r, g, b = x[..., 0:1, :, :], x[..., 1:2, :, :], x[..., 2:3, :, :]
    return (r * LUMA_WEIGHTS[0]).add_(g, alpha=LUMA_WEIGHTS[1]).add_(b, alpha=LUMA_WEIGHTS[2])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB to full-range BT.601 YCbCr (Y in [0,1], Cb/Cr centred on 0.5); see :func:`ycbcr_to_rgb`."""
    return _mix(x, _YCC, (0.0, 0.5, 0.5))


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping: callers decide)."""
    centred = x - torch.tensor((0.0, 0.5, 0.5), dtype=x.dtype, device=x.device).view(3, 1, 1)
    return _mix(centred, _RGB, (0.0, 0.0, 0.0))


def rgb_to_y_bt601(x: torch.Tensor) -> torch.Tensor:
    """Studio-range BT.601 luma in [16/255, 235/255], as MATLAB's ``rgb2ycbcr`` and the
    super-resolution benchmarks (basicsr ``test_y_channel``) compute it. Returns ``[..., 1, H, W]``.

    A one-channel (gray) ``x`` gets the luma of the neutral pixel (v, v, v), 16/255 + 219/255 · v:
    basicsr reads a gray file as three equal channels, so gray and RGB copies of an image must
    score alike (Set14's img_003 is gray)."""
    w = torch.tensor((65.481, 128.553, 24.966), dtype=x.dtype, device=x.device).view(3, 1, 1) / 255.0
    if x.shape[-3] == 1:
        return x * w.sum(dim=0) + 16.0 / 255.0
    return (x * w).sum(dim=-3, keepdim=True) + 16.0 / 255.0
