"""Small helpers the metric families share: accept any image form, 8-bit levels.

Luma is :func:`enhance.ops.color.luma`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from ..image import Image

__all__ = ["planes", "levels8"]


def planes(x: Image | torch.Tensor) -> torch.Tensor:
    """The colour planes ``[C,H,W]`` (C = 1 or 3) of an Image or tensor, as float.

    Alpha is not scored: an Image's alpha plane is separate, and a 2- or 4-channel tensor's last
    channel is taken as alpha and dropped.
    """
    import torch

    from ..image import Image

    if isinstance(x, Image):
        return x.pixels
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"metrics take an enhance.Image or a [C,H,W] tensor, got {type(x).__name__}")
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or x.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"metrics take [C,H,W] tensors with C in 1..4, got shape {tuple(x.shape)}")
    if x.shape[0] in (2, 4):
        x = x[:-1]
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    return x if x.is_floating_point() else x.float()


def levels8(x: torch.Tensor) -> torch.Tensor:
    """Values in [0,1] as the 8-bit code values a file would hold (float, rounded, in [0,255])."""
    return (x.clamp(0.0, 1.0) * 255.0).round()
