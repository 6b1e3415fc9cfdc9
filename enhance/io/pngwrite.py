"""PNG pixel encoders, chosen by measurement: libvips for 8-bit, OpenCV for 16-bit, Pillow as the fallback.

Encoding is the slow end of a batch (a 4096² output costs more on the host than decoding it), so
the encoder matters. Measured on 4096² photos and ESRGAN-like detail (BENCHMARKS.md, "PNG writer"):

* **8-bit**: libvips (``pyvips`` with the ``pyvips-binary`` wheel, which bundles zlib-ng) at
  zlib level 3 with the AVG row filter takes 0.29–0.39x the CPU time of Pillow at level 4 (what
  enhance wrote before) for files 0.89–1.00x the size. libvips' own default filter (NONE) makes
  files 2–3x larger, and its level 1 is zlib-ng's "quick" strategy (1.5x larger): neither is used.
* **16-bit**: OpenCV at level 1 with the RLE strategy, 0.46x the CPU of level 4 for the same size
  (the low byte hardly compresses whatever the level); libvips brings nothing there.
* **Fallback** (pyvips missing or its library not loadable: an old glibc without a wheel): Pillow
  at level 1 with zlib's RLE strategy (``compress_type=3``), 0.45–0.67x the CPU of level 4.

Every encoder here writes pixels only; the caller splices the metadata chunks in
(:mod:`.pngchunks`), so the output carries the same ICC, EXIF, XMP, text and resolution chunks
whichever encoder made the rows. All three release the GIL while they encode, so encode threads
run in parallel with each other and with the device thread.

``level`` is a zlib level 0–9 (:data:`enhance.io.PNG_COMPRESS_LEVEL` by default, ``output.compress_level``
in a pipeline): libvips takes it as it is (1 becomes 2, see above); OpenCV and Pillow use RLE at
level 1 for any level from 1 to 3 (RLE sizes do not depend on the level) and the plain level above.
"""

from __future__ import annotations

import os
import struct
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["WRITER_ENV", "encode_png_pixels", "idat_bytes", "png_writer"]

#: set to ``pillow`` to write 8-bit PNGs with Pillow even when libvips is installed (to compare)
WRITER_ENV = "ENHANCE_PNG_WRITER"
_RLE_UP_TO = 3  # levels 1..3 use the RLE strategy with OpenCV and Pillow


@cache
def _vips() -> Any:
    """The pyvips module, ready for batch use, or None when it (or libvips) cannot be loaded."""
    try:
        import pyvips
    except (ImportError, OSError):  # no package, or a libvips that will not load here
        return None
    pyvips.cache_set_max(0)  # a batch never repeats an operation; the cache would only hold memory
    return pyvips


def png_writer() -> str:
    """The encoder 8-bit PNGs get here: ``libvips``, or ``pillow`` (fallback or :data:`WRITER_ENV`)."""
    if os.environ.get(WRITER_ENV, "").strip().lower() == "pillow":
        return "pillow"
    return "libvips" if _vips() is not None else "pillow"


def encode_png_pixels(array: np.ndarray, level: int) -> bytes:
    """A PNG of ``array`` (HxWxC, C in 1..4, uint8 or uint16) with no metadata chunk but the pixels'.

    16-bit gray+alpha goes out as RGBA (OpenCV has no two-channel writer).
    """
    import numpy as np

    if not 0 <= level <= 9:
        raise ValueError(f"PNG compression level must be 0-9, got {level}")
    if array.dtype == np.uint16:
        return _opencv16(array, level)
    if png_writer() == "libvips":
        return _libvips8(array, level)
    return _pillow8(array, level)


def _libvips8(array: np.ndarray, level: int) -> bytes:
    import numpy as np

    pyvips = _vips()
    # new_from_array shares the array's memory: it stays referenced here until the save returns
    array = np.ascontiguousarray(array)
    im = pyvips.Image.new_from_array(array).copy(interpretation="srgb" if array.shape[2] >= 3 else "b-w")
    return bytes(
        im.pngsave_buffer(
            compression=2 if level == 1 else level,
            filter=pyvips.enums.ForeignPngFilter.AVG,
            bitdepth=8,
            keep=pyvips.enums.ForeignKeep.NONE,
        )
    )


def _pillow8(array: np.ndarray, level: int) -> bytes:
    import io

    import PIL.Image

    options: dict[str, int] = {"compress_level": level}
    if 1 <= level <= _RLE_UP_TO:
        options = {"compress_level": 1, "compress_type": 3}  # zlib Z_RLE (PngImagePlugin reads compress_type)
    buffer = io.BytesIO()
    PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, "PNG", **options)
    return buffer.getvalue()


def _opencv16(array: np.ndarray, level: int) -> bytes:
    import cv2
    import numpy as np

    if array.shape[2] == 2:
        array = array[:, :, [0, 0, 0, 1]]  # OpenCV writes 1, 3 or 4 channels
    bgr = array[:, :, [2, 1, 0, 3][: array.shape[2]]] if array.shape[2] >= 3 else array
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if 1 <= level <= _RLE_UP_TO:  # the strategy must be given: with a level alone OpenCV uses DEFAULT
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr), params)
    if not ok:
        raise RuntimeError("OpenCV failed to encode a 16-bit PNG")
    return encoded.tobytes()


def idat_bytes(png: bytes) -> int:
    """The compressed pixel bytes of a PNG: the summed payload of its ``IDAT`` chunks (container,
    metadata and chunk framing excluded). Walks chunk headers only."""
    from .pngchunks import PNG_SIGNATURE

    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG byte stream (bad signature)")
    total, pos = 0, len(PNG_SIGNATURE)
    while pos + 12 <= len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            total += length
        elif kind == b"IEND":
            break
        pos += 12 + length
    return total
