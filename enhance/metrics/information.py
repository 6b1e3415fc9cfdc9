"""Information measures: luma histogram entropy and PNG bits per pixel ("file size tracks detail")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._util import levels8, planes

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..image import Image

__all__ = ["codes8", "entropy", "png_bpp", "png_bpp_codes", "png_bpp_of_png"]


def entropy(x: Image | torch.Tensor) -> float:
    """Shannon entropy, in bits, of the 256-bin histogram of 8-bit full-range luma (0 to 8)."""
    import torch

    from ..ops.color import luma

    codes = levels8(luma(planes(x))).to(torch.int64).flatten()
    counts = torch.bincount(codes, minlength=256).to(torch.float64)
    p = counts[counts > 0] / codes.numel()
    return float(-(p * p.log2()).sum())


def png_bpp(x: Image | torch.Tensor, *, compress_level: int | None = None) -> float:
    """Bits per pixel of the compressed rows of a lossless 8-bit PNG of the image, as enhance's
    writer encodes it (:mod:`enhance.io.pngwrite`: libvips, or Pillow where libvips is missing, at
    :data:`enhance.io.PNG_COMPRESS_LEVEL` unless ``compress_level`` says otherwise).

    Noise and real detail cost bits, flat areas and smooth gradients almost none, so this tracks
    the "bigger file, more detail" figure users watch, per pixel. It depends on image size (a
    plain upscale spreads the same detail over more pixels), so compare images at one size.

    Only the ``IDAT`` payload counts (no container, no metadata), so the figure of an output
    written undithered at this level is read off the written file itself
    (:func:`png_bpp_of_png`): the batch runner then skips a second encode. The image is quantized
    on its own device and only the 8-bit codes come to the CPU (:func:`png_bpp_codes` takes them).
    The value depends on the encoder: libvips' files are within a few per cent of Pillow's.
    """
    return png_bpp_codes(codes8(x), compress_level=compress_level)


def codes8(x: Image | torch.Tensor) -> np.ndarray:
    """The colour planes as the HxWxC uint8 codes a file would hold (quantized on the image's device)."""
    import torch

    return levels8(planes(x)).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def png_bpp_codes(codes: np.ndarray, *, compress_level: int | None = None) -> float:
    """:func:`png_bpp` of HxWxC uint8 codes (what :func:`codes8` returns); CPU work that releases
    the GIL, so a runner may do it on a host thread."""
    from ..io import PNG_COMPRESS_LEVEL
    from ..io.pngwrite import encode_png_pixels

    level = PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    return png_bpp_of_png(encode_png_pixels(codes, level), codes.shape[1], codes.shape[0])


def png_bpp_of_png(png: bytes, width: int, height: int) -> float:
    """:func:`png_bpp` of a PNG already encoded by enhance's writer: its ``IDAT`` bits per pixel."""
    from ..io.pngwrite import idat_bytes

    return idat_bytes(png) * 8.0 / (width * height)
