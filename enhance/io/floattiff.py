"""Floating-point TIFF input (SampleFormat 3: 16-, 32- or 64-bit IEEE float), read with tifffile.

Pillow opens none of the colour layouts (and gray only as a mode enhance does not take). TIFF has
no tag that says whether float samples are linear light or already encoded: the convention of the
tools that write them (Photoshop's 32-bit mode, renderers, compositors) is scene-linear; an ICC
profile, when there is one, says otherwise through its tone curve. So:

* an ICC profile with a non-linear tone curve (sRGB, a gamma): the values are encoded already; they
  are kept, and so is the profile;
* no ICC profile, or one with a linear tone curve: linear light, encoded with the sRGB curve on
  read (a linear profile is dropped with the conversion: the pixels are sRGB-encoded now).

Either way the record says which, values outside 0..1 (HDR highlights, negative noise) are clipped
with a note, and the image continues as 16-bit (``bit_depth: 16`` output keeps the precision).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FloatTiff", "is_float_tiff", "read_float_tiff"]

_ICC_TAG = 34675
_ORIENTATION_TAG = 274


@dataclass
class FloatTiff:
    """A float TIFF decoded to 16-bit sRGB-encoded samples, with what was done to it."""

    array: np.ndarray  # HxWxC uint16, C in 1..4, straight alpha last
    icc_profile: bytes | None
    orientation: int
    dpi: tuple[float, float] | None
    mode: str
    notes: list[str] = field(default_factory=list)


def is_float_tiff(data: bytes) -> bool:
    """Whether ``data`` is a TIFF whose first image holds floating-point samples."""
    if data[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return False
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            return int(tif.pages.first.sampleformat) == 3
    except Exception:  # a damaged TIFF: Pillow's path reports it
        return False


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    import numpy as np

    curve = 1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055
    return np.where(linear <= 0.0031308, 12.92 * linear, curve)


def read_float_tiff(data: bytes, *, max_pixels: int | None = None) -> FloatTiff:
    """Decode a float TIFF (see the module docs).

    Raises:
        ValueError: a layout it cannot take, or more than ``max_pixels`` pixels (said in one line).
    """
    import numpy as np
    import tifffile

    from .icc import describe, tone_curve

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        pixels_in_file = int(page.imagewidth) * int(page.imagelength)
        if max_pixels is not None and pixels_in_file > max_pixels:
            raise ValueError(
                f"image is {page.imagewidth}x{page.imagelength}, over enhance's limit of {max_pixels:,} pixels; "
                "downscale it first"
            )
        values = page.asarray()
        axes = page.axes
        photometric = int(page.photometric)
        extras = tuple(int(e) for e in (page.extrasamples or ()))
        tags = page.tags
        icc = tags[_ICC_TAG].value if _ICC_TAG in tags else None
        orientation = int(tags[_ORIENTATION_TAG].value) if _ORIENTATION_TAG in tags else 1
        dpi = _dpi(page)
        bits = int(page.bitspersample)
    if photometric not in (1, 2):  # MINISBLACK, RGB
        raise ValueError(
            f"float TIFF with photometric {photometric} is not supported (gray and RGB are); convert it to RGB first"
        )
    values = values.astype(np.float32)
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar: samples first
        values = np.moveaxis(values, 0, -1)
    if values.ndim == 2:
        values = values[:, :, None]
    colour = 1 if photometric == 1 else 3
    if values.ndim != 3 or values.shape[2] not in (colour, colour + 1):
        raise ValueError(
            f"float TIFF with {values.shape[-1]} samples per pixel is not supported; convert it to RGB(A) first"
        )
    notes = []
    if not np.isfinite(values).all():
        notes.append("NaN or infinite samples were set to 0")
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    alpha = values[:, :, colour:]
    pixels = values[:, :, :colour]
    if alpha.size and extras and extras[0] == 1:  # associated (premultiplied) alpha -> straight
        pixels = np.where(alpha > 0, pixels / np.maximum(alpha, 1e-12), 0.0)
    curve = tone_curve(icc) if icc else None
    if curve is None or curve == "linear":
        why = "no ICC profile: assumed linear light" if icc is None else "its ICC profile has a linear tone curve"
        notes.append(f"{bits}-bit float TIFF read as linear light ({why}), encoded with the sRGB curve")
        if icc is not None:
            name = describe(icc) or "unnamed"
            notes.append(f"its linear ICC profile ({name}) was dropped: the pixels are sRGB-encoded now")
            icc = None
        over = float((pixels > 1).mean())
        pixels = _srgb_encode(np.clip(pixels, 0, None))
    else:
        notes.append(f"{bits}-bit float TIFF read as encoded values (its ICC profile's tone curve is {curve})")
        over = float((pixels > 1).mean())
    if over > 0:
        notes.append(f"{over:.2%} of the samples were above 1.0 (HDR highlights) and were clipped")
    if (values < 0).any():
        notes.append("negative samples were clipped to 0")
    out = np.concatenate([pixels, np.clip(alpha, 0, 1)], axis=2) if alpha.size else pixels
    array = np.rint(np.clip(out, 0, 1) * 65535).astype(np.uint16)
    mode = {1: "F", 2: "LA;F", 3: "RGB;F", 4: "RGBA;F"}[array.shape[2]]
    return FloatTiff(array, icc, orientation if 1 <= orientation <= 8 else 1, dpi, f"{mode}{bits}", notes)


def _dpi(page: object) -> tuple[float, float] | None:
    try:
        x, y = page.resolution  # type: ignore[attr-defined]
        unit = int(page.resolutionunit)  # type: ignore[attr-defined]
    except Exception:
        return None
    if x <= 0 or y <= 0 or unit == 1:
        return None
    scale = 2.54 if unit == 3 else 1.0  # centimetres -> inches
    return (float(x) * scale, float(y) * scale)
