"""Where to look: the highest-texture and the most-banded region of an image, as zoomed crops.

Regions are found on the "after" image for texture (where detail was added or lost) and on the
"before" image for banding (where the input was banded), then cut from both images at the same
place, as fractions of the picture, so before and after line up whatever their sizes.

The banding region comes from :func:`enhance.metrics.banding.banding_map` when that metric is
installed. Without it, the fallback looks for smooth gradients — windows whose brightness changes
across the window while its fine texture is low — which is where 8-bit banding shows.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["Box", "Crop", "texture_region", "banded_region", "crop_pair"]

#: analysis works on a copy whose long side is at most this (regions are large, maps are cheap)
ANALYSIS_SIDE = 1024
#: crop side in "after" pixels (smaller for small images)
CROP_SIDE = 160
# a window counts as a gradient when its brightness spread (std, full scale) is at least this
_MIN_GRADIENT_SPREAD = 0.01
_MAX_GRADIENT_SPREAD = 0.05


@dataclass(frozen=True)
class Box:
    """A region as fractions of the picture: left, top, width, height in [0,1]."""

    left: float
    top: float
    width: float
    height: float

    def pixels(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, rows, cols) of this box in an image of the given size (at least 1 pixel)."""
        top, left = round(self.top * height), round(self.left * width)
        rows = max(1, min(height - top, round(self.height * height)))
        cols = max(1, min(width - left, round(self.width * width)))
        return top, left, rows, cols


@dataclass(frozen=True)
class Crop:
    """One region cut from before and after, as PNG data URIs (before is None without a before)."""

    label: str
    box: Box
    after: str
    before: str | None


def _analysis_luma(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Luma ``[1,1,h,w]`` area-reduced by an integer factor to at most ANALYSIS_SIDE, and the factor."""
    import torch.nn.functional as F

    from ..ops.color import luma

    factor = max(1, math.ceil(max(x.shape[-2:]) / ANALYSIS_SIDE))
    y = luma(x.float()).unsqueeze(0)
    return (F.avg_pool2d(y, factor) if factor > 1 else y), factor


def _window(height: int, width: int, factor: int, side: float | None) -> int:
    """Crop side in analysis pixels, from ``side`` in image pixels (default CROP_SIDE)."""
    side = min(CROP_SIDE if side is None else side, height * factor, width * factor)
    return max(1, min(height, width, round(side / factor)))


def _best(score: torch.Tensor, window: int, height: int, width: int) -> Box:
    """The window (stride half a window) with the highest mean ``score`` ``[1,1,h,w]``, as a Box."""
    import torch.nn.functional as F

    stride = max(1, window // 2)
    pooled = F.avg_pool2d(score, window, stride=stride)[0, 0]
    index = int(pooled.flatten().argmax())
    row, col = divmod(index, pooled.shape[1])
    top, left = row * stride, col * stride
    return Box(left / width, top / height, window / width, window / height)


def texture_region(x: torch.Tensor, side: float | None = None) -> Box:
    """The ``side``-pixel window of ``[C,H,W]`` planes with the most gradient energy."""
    from ..metrics.gradient import gradient_energy

    y, factor = _analysis_luma(x)
    h, w = y.shape[-2:]
    energy = gradient_energy(y[0]).unsqueeze(0).unsqueeze(0)
    return _best(energy, _window(h, w, factor, side), h, w)


def banded_region(x: torch.Tensor, side: float | None = None) -> tuple[Box, str]:
    """The ``side``-pixel window of ``[C,H,W]`` planes where banding is most visible, and how it
    was found."""
    import torch.nn.functional as F

    try:
        from ..metrics.banding import banding_map
    except ImportError:
        banding_map = None
    if banding_map is not None:
        visibility = banding_map(x).float()[None, None]
        vh, vw = visibility.shape[-2:]
        height, width = int(x.shape[-2]), int(x.shape[-1])
        side_px = min(side or CROP_SIDE, height, width)
        window = max(1, min(vh, vw, round(side_px * vh / height)))
        best = _best(visibility, window, vh, vw)
        # the map's grid need not divide the image: keep the window's centre, cut exactly side_px
        w_frac, h_frac = side_px / width, side_px / height
        left = min(max(best.left + best.width / 2 - w_frac / 2, 0.0), 1.0 - w_frac)
        top = min(max(best.top + best.height / 2 - h_frac / 2, 0.0), 1.0 - h_frac)
        return Box(left, top, w_frac, h_frac), "banding map"
    from ..metrics.gradient import gradient_energy

    y, factor = _analysis_luma(x)
    h, w = y.shape[-2:]
    window = _window(h, w, factor, side)
    fine = gradient_energy(y[0]).sqrt()[None, None]
    stride = max(1, window // 2)
    # brightness spread across the window from its coarse mean and mean square
    mean = F.avg_pool2d(y, window, stride=stride)
    spread = (F.avg_pool2d(y.square(), window, stride=stride) - mean.square()).clamp_min(0).sqrt()
    texture = F.avg_pool2d(fine, window, stride=stride)
    # a gentle gradient (spread capped, so a window with an edge does not win) over little texture
    smooth = spread.clamp_max(_MAX_GRADIENT_SPREAD) / (texture + 1e-3)
    smooth = smooth.where(spread >= _MIN_GRADIENT_SPREAD, smooth.new_zeros(()))
    if float(smooth.max()) <= 0:  # no gradient anywhere: show the flattest window
        smooth = 1.0 / (texture + 1e-3)
    index = int(smooth.flatten().argmax())
    row, col = divmod(index, smooth.shape[-1])
    return Box(col * stride / w, row * stride / h, window / w, window / h), "smooth-gradient fallback"


def _png_data_uri(planes: torch.Tensor) -> str:
    import PIL.Image

    array = (planes.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    image = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _cut(x: torch.Tensor, box: Box) -> torch.Tensor:
    top, left, rows, cols = box.pixels(int(x.shape[-2]), int(x.shape[-1]))
    return x[:, top : top + rows, left : left + cols]


def crop_pair(after: torch.Tensor, before: torch.Tensor | None = None) -> list[Crop]:
    """Crops of the highest-texture region (found on ``after``) and the most-banded region (found
    on ``before`` when given, else on ``after``), cut from both images."""
    side = min(CROP_SIDE, after.shape[-2], after.shape[-1])  # in "after" pixels
    boxes = [("most texture", texture_region(after, side))]
    if before is not None:
        box, how = banded_region(before, side * before.shape[-2] / after.shape[-2])
    else:
        box, how = banded_region(after, side)
    boxes.append((f"most banded ({how})", box))
    return [
        Crop(label, box, _png_data_uri(_cut(after, box)), None if before is None else _png_data_uri(_cut(before, box)))
        for label, box in boxes
    ]
