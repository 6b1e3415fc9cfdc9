"""Information measures: luma histogram entropy and PNG bits per pixel ("file size tracks detail")."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._util import levels8, planes

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..image import Image

__all__ = ["entropy", "png_bpp", "PNG_STRIP_ROWS"]

#: rows per independently encoded PNG strip (fixed, so the figure never depends on the machine)
PNG_STRIP_ROWS = 256
# bytes a PNG spends outside its compressed rows: signature, IHDR, IEND, one IDAT header, zlib frame
_PNG_CONTAINER_BYTES = 8 + 25 + 12 + 12 + 6


def entropy(x: Image | torch.Tensor) -> float:
    """Shannon entropy, in bits, of the 256-bin histogram of 8-bit full-range luma (0 to 8)."""
    import torch

    from ..ops.color import luma

    codes = levels8(luma(planes(x))).to(torch.int64).flatten()
    counts = torch.bincount(codes, minlength=256).to(torch.float64)
    p = counts[counts > 0] / codes.numel()
    return float(-(p * p.log2()).sum())


def _encoded_size(rows: np.ndarray, compress_level: int) -> int:
    import io

    import PIL.Image

    buffer = io.BytesIO()
    PIL.Image.fromarray(rows[:, :, 0] if rows.shape[2] == 1 else rows).save(
        buffer, "PNG", compress_level=compress_level
    )
    return buffer.tell()


def png_bpp(x: Image | torch.Tensor, *, compress_level: int | None = None) -> float:
    """Bits per pixel of a lossless 8-bit PNG of the image, as enhance writes it (Pillow at
    :data:`enhance.io.PNG_COMPRESS_LEVEL`, 4, unless ``compress_level`` says otherwise; 6, Pillow's
    default, gives slightly smaller figures and takes about 1.5x longer).

    Noise and real detail cost bits, flat areas and smooth gradients almost none, so this tracks
    the "bigger file, more detail" figure users watch, per pixel. It depends on image size (a
    plain upscale spreads the same detail over more pixels), so compare images at one size.

    The image is quantized on its own device and only the bytes come to the CPU. For speed the
    rows are encoded in independent strips of :data:`PNG_STRIP_ROWS` rows on all
    CPU cores (deflate's 32 KiB window spans only a few rows, so this costs about 0.1% in size);
    the container bytes of the extra strips are not counted.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from ..io import PNG_COMPRESS_LEVEL

    level = PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    codes = levels8(planes(x)).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
    height, width = codes.shape[:2]
    strips = [codes[top : top + PNG_STRIP_ROWS] for top in range(0, height, PNG_STRIP_ROWS)]
    workers = min(len(strips), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="enhance-png-bpp") as pool:
            sizes = list(pool.map(lambda s: _encoded_size(s, level), strips))
    else:
        sizes = [_encoded_size(s, level) for s in strips]
    total = sum(sizes) - _PNG_CONTAINER_BYTES * (len(strips) - 1)
    return total * 8.0 / (height * width)
