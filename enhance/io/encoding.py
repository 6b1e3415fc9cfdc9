"""Encode rasters (and images) into files, keeping what each format can hold of the metadata.

The format comes from the suffix (or ``format=``); what each keeps is the table in
:mod:`enhance.io`. PNG pixels come from the encoder measured fastest (:mod:`.pngwrite`: libvips
for 8-bit, Pillow when it is missing, OpenCV for 16-bit), the metadata chunks spliced in by
:mod:`.pngchunks`; Pillow encodes the other 8-bit formats (AVIF natively, JPEG XL through
pillow-jxl-plugin, ``enhance[jxl]``) and tifffile writes TIFF. No output ever carries the source's content
credentials: nothing is copied from the source's bytes, and the reference to a remote manifest is
removed from the XMP (see :mod:`.metadata`); :mod:`enhance.credentials.signing` signs anew. Outputs are written to a
temporary file beside the target and renamed over it (:func:`enhance.files.atomic_output`), so a
crash or Ctrl-C never leaves a partial image, and an output is never written onto the file its
image was read from.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_write_bytes
from ..image import Image, Metadata, Raster, from_image
from .formats import EIGHT_BIT_ONLY, check_depth, format_for_suffix, output_format
from .metadata import exif_with_parameters, icc_for, png_text, xmp_for

if TYPE_CHECKING:
    import numpy as np
    import PIL.Image

__all__ = [
    "AVIF_SPEED",
    "DEFAULT_QUALITY",
    "JXL_EFFORT",
    "PNG_COMPRESS_LEVEL",
    "encode",
    "encode_bytes",
    "encode_notes",
    "jxl_available",
    "pil_from_raster",
    "write",
]

#: default PNG zlib level (``output.compress_level`` changes it): 3 with libvips' AVG filter writes a
#: 4K photo in about a third of the CPU time Pillow took at 4 for files no larger (BENCHMARKS.md,
#: "PNG writer"); encoding is the slow end of a batch, so speed wins by default. What the level
#: means per encoder: :mod:`.pngwrite`
PNG_COMPRESS_LEVEL = 3
#: quality when none is given, per lossy format: AVIF and JPEG XL at 90 match JPEG/WebP at 95 in
#: fidelity at half the size or less (BENCHMARKS.md, "io")
DEFAULT_QUALITY = {"JPEG": 95, "WEBP": 95, "AVIF": 90, "JXL": 90}
#: libaom speed for AVIF (0 slowest .. 10): Pillow's default 6 took 6x longer at 4K for files 20 %
#: smaller at the same fidelity, and 9 was faster than 8 with files as small (BENCHMARKS.md, "io");
#: chroma is kept full (4:4:4), as for JPEG at high quality
AVIF_SPEED = 9
#: libjxl effort (1 fastest .. 9) for lossy and lossless JPEG XL: the plugin's default 7 took twice
#: as long as 5 at 4K for no gain; lossless 2 writes PNG-level-4 speed at 20 % smaller (BENCHMARKS.md, "io")
JXL_EFFORT = {"lossy": 5, "lossless": 2}
_JPEG_MAX_EXIF = 65533  # one APP1 segment
_WEBP_MAX_SIDE = 16383
_AVIF_MAX_SIDE = 65536


def write(
    image: Image,
    path: str | os.PathLike[str],
    *,
    bit_depth: int | None = 8,
    dither: bool = True,
    format: str | None = None,
    quality: int | None = None,
    lossless: bool = False,
    compress_level: int = PNG_COMPRESS_LEVEL,
    seed: int = 0,
    overwrite_source: bool = False,
) -> Path:
    """Quantize ``image`` on its device, download it once and write it atomically to ``path``.

    Args:
        bit_depth: 8 or 16 (16 for PNG and TIFF only); None keeps the source's depth where the
            format allows it.
        dither: add seeded TPDF dither before rounding to 8 bits, so smooth gradients do not band
            (16-bit output is rounded: its steps are far below visibility).
        format: ``png``, ``jpeg``, ``webp``, ``tiff``, ``avif`` or ``jxl``; by default from the suffix.
        quality: JPEG/WebP/AVIF/JPEG XL quality (1-100; by default :data:`DEFAULT_QUALITY`); for
            lossless WebP, the compression effort.
        lossless: lossless WebP or JPEG XL.
        compress_level: PNG zlib level 0-9 (lower is faster and larger; see :data:`PNG_COMPRESS_LEVEL`).
        seed: the dither's seed: the same seed gives the same file.
        overwrite_source: allow writing onto the file the image was read from (refused by default).

    Returns:
        the path written.
    """
    path = Path(path)
    fmt = output_format(path, format)
    depth = bit_depth if bit_depth is not None else (8 if fmt in EIGHT_BIT_ONLY else image.meta.bit_depth)
    if depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8, 16 or None (as the source), got {bit_depth!r}")
    check_depth(fmt, depth, path)
    _check_not_source(image.meta.source, path, overwrite_source)
    raster = from_image(image, bit_depth=depth, dither=dither, seed=seed)
    return encode(
        raster,
        path,
        format=fmt,
        quality=quality,
        lossless=lossless,
        compress_level=compress_level,
        overwrite_source=overwrite_source,
    )


def encode(
    raster: Raster,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int | None = None,
    lossless: bool = False,
    compress_level: int = PNG_COMPRESS_LEVEL,
    overwrite_source: bool = False,
) -> Path:
    """Encode ``raster`` with its metadata and write it atomically to ``path``; see the module docs
    for what each format keeps. Parent folders are created. Returns the path written.

    Raises:
        ValueError: 16-bit samples for JPEG/WebP, an unknown format, or ``path`` is the raster's
            source file (unless ``overwrite_source``).
    """
    path = Path(path)
    fmt = output_format(path, format)
    _check_not_source(raster.meta.source, path, overwrite_source)
    data = encode_bytes(raster, fmt, quality=quality, lossless=lossless, compress_level=compress_level)
    atomic_write_bytes(path, data)
    return path


def encode_bytes(
    raster: Raster,
    format: str,
    *,
    quality: int | None = None,
    lossless: bool = False,
    compress_level: int = PNG_COMPRESS_LEVEL,
) -> bytes:
    """The encoded file as bytes (what :func:`encode` writes), for callers that keep it in memory
    (to sign it, for instance)."""
    import numpy as np

    fmt = output_format(Path(f"output.{format.lower()}"), format)
    array = _check_array(raster.array)
    check_depth(fmt, 16 if array.dtype == np.uint16 else 8, f"{fmt} output")
    meta = raster.meta
    text = png_text(meta)
    if fmt == "PNG":
        return _encode_png(array, meta, text, compress_level)
    if fmt == "TIFF":
        return _encode_tiff(array, meta, text)
    exif = exif_with_parameters(meta.exif, text.get("parameters"))
    xmp = xmp_for(text)
    level = DEFAULT_QUALITY[fmt] if quality is None else quality
    if fmt == "JPEG":
        return _encode_jpeg(array, meta, exif, xmp, level)
    if fmt == "AVIF":
        return _encode_avif(array, meta, exif, xmp, level)
    if fmt == "JXL":
        return _encode_jxl(array, meta, exif, xmp, level, lossless)
    return _encode_webp(array, meta, exif, xmp, level, lossless)


def encode_notes(meta: Metadata, format: str) -> list[str]:
    """What writing ``meta``'s image as ``format`` changes beyond the pixels, one line each (for the
    record): today, the colour conversion of a JPEG XL output whose source profile is not sRGB."""
    fmt = format_for_suffix(format)
    profile = meta.icc_profile
    if fmt != "JXL" or not profile:
        return []
    from .icc import colour_space, describe, is_srgb

    if is_srgb(profile):
        return []
    name = describe(profile) or "unnamed"
    if colour_space(profile) == "RGB":
        return [f"JPEG XL output keeps no ICC profile here: converted from {name} to sRGB (colours outside sRGB clip)"]
    return [f"JPEG XL output keeps no ICC profile here: the {colour_space(profile)} profile {name} was dropped"]


def _check_array(array: np.ndarray) -> np.ndarray:
    import numpy as np

    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"raster must be HxWxC with C in 1..4, got shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"raster must be uint8 or uint16 to encode, got {array.dtype}")
    return array


def _colour_channels(array: np.ndarray) -> int:
    return array.shape[2] - (1 if array.shape[2] in (2, 4) else 0)


def _save_pil(
    array: np.ndarray, fmt: str, meta: Metadata, *, exif: bytes | None, xmp: bytes | None = None, **options: object
) -> bytes:
    """Encode 8-bit pixels with Pillow, adding the ICC profile, EXIF, XMP and resolution it can carry."""
    import PIL.Image

    im = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    icc = icc_for(meta.icc_profile, _colour_channels(array)) if fmt != "JXL" else None
    dpi = meta.dpi if fmt in ("PNG", "JPEG") else None  # WebP, AVIF and JPEG XL have no resolution field
    extra = {"icc_profile": icc, "exif": exif, "xmp": xmp, "dpi": dpi}
    options.update({k: v for k, v in extra.items() if v})
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _encode_png(array: np.ndarray, meta: Metadata, text: Mapping[str, str], compress_level: int) -> bytes:
    """Pixels from the measured-fastest encoder (:mod:`.pngwrite`), metadata chunks spliced in."""
    import numpy as np

    from .pngchunks import insert_chunks, metadata_chunks
    from .pngwrite import encode_png_pixels

    if array.dtype == np.uint16 and array.shape[2] == 2:  # OpenCV writes 1, 3 or 4 channels: RGBA
        array = array[:, :, [0, 0, 0, 1]]
    colour = _colour_channels(array)
    chunks = metadata_chunks(icc_profile=icc_for(meta.icc_profile, colour), exif=meta.exif, text=text, dpi=meta.dpi)
    # drop what an encoder writes of its own accord (libvips: a pHYs of 72 dpi even with keep=NONE)
    return insert_chunks(encode_png_pixels(array, compress_level), chunks, drop=(b"pHYs", b"eXIf", b"iCCP"))


def _encode_jpeg(array: np.ndarray, meta: Metadata, exif: bytes | None, xmp: bytes | None, quality: int) -> bytes:
    if array.shape[2] in (2, 4):
        array = _on_white(array)
    if exif is not None and len(exif) > _JPEG_MAX_EXIF:
        # one APP1 segment holds 64 KiB: give up the parameters copy first, then the EXIF itself
        exif = meta.exif if meta.exif and len(meta.exif) <= _JPEG_MAX_EXIF else None
    # 4:4:4 chroma at high quality: subsampling would soften the detail enhance restores
    subsampling = 0 if quality >= 90 else 2
    if xmp is not None and len(xmp) > _JPEG_MAX_EXIF - 29:  # one APP1 segment, after its XMP namespace
        xmp = None
    return _save_pil(array, "JPEG", meta, exif=exif, xmp=xmp, quality=quality, subsampling=subsampling, optimize=True)


def _on_white(array: np.ndarray) -> np.ndarray:
    """Composite straight alpha onto white, in the stored (sRGB-encoded) values; 8-bit in, 8-bit out."""
    import numpy as np

    alpha = array[:, :, -1:].astype(np.float32) / 255.0
    colour = array[:, :, :-1].astype(np.float32)
    return np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def _encode_webp(
    array: np.ndarray, meta: Metadata, exif: bytes | None, xmp: bytes | None, quality: int, lossless: bool
) -> bytes:
    if max(array.shape[:2]) > _WEBP_MAX_SIDE:
        raise ValueError(f"WebP images are at most {_WEBP_MAX_SIDE} pixels on a side; write PNG or TIFF instead")
    if array.shape[2] == 1:
        array = array[:, :, [0, 0, 0]]  # WebP stores RGB(A) only
    elif array.shape[2] == 2:
        array = array[:, :, [0, 0, 0, 1]]
    # exact: keep the colour under fully transparent pixels, as lossless promises
    return _save_pil(array, "WEBP", meta, exif=exif, xmp=xmp, quality=quality, lossless=lossless, exact=lossless)


def _encode_avif(array: np.ndarray, meta: Metadata, exif: bytes | None, xmp: bytes | None, quality: int) -> bytes:
    """AVIF with Pillow's libavif (8-bit; ICC, EXIF and XMP kept)."""
    if max(array.shape[:2]) > _AVIF_MAX_SIDE:
        raise ValueError(f"AVIF images are at most {_AVIF_MAX_SIDE} pixels on a side; write PNG or TIFF instead")
    if array.shape[2] == 1:  # Pillow writes and reads AVIF as RGB(A): gray goes out as RGB, as for WebP
        array = array[:, :, [0, 0, 0]]
    elif array.shape[2] == 2:
        array = array[:, :, [0, 0, 0, 1]]
    return _save_pil(
        array, "AVIF", meta, exif=exif, xmp=xmp, quality=quality, speed=AVIF_SPEED, subsampling="4:4:4", range="full"
    )


def jxl_available() -> bool:
    """Whether pillow-jxl-plugin (``enhance[jxl]``) is installed; importing it registers JPEG XL with Pillow."""
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        return False
    return True


def _encode_jxl(
    array: np.ndarray, meta: Metadata, exif: bytes | None, xmp: bytes | None, quality: int, lossless: bool
) -> bytes:
    """JPEG XL with pillow-jxl-plugin: EXIF and XMP kept, in a container (which c2pa can sign).

    The plugin writes no ICC profile, so pixels under another RGB profile are converted to sRGB
    first (:func:`encode_notes` says so in the record)."""
    if not jxl_available():
        raise ValueError("writing JPEG XL needs pillow-jxl-plugin (GPL-3.0-or-later): pip install 'enhance[jxl]'")
    from .icc import colour_space, is_srgb, to_srgb

    profile = meta.icc_profile
    if profile and array.shape[2] >= 3 and colour_space(profile) == "RGB" and not is_srgb(profile):
        array = to_srgb(array, profile)
    effort = JXL_EFFORT["lossless" if lossless else "lossy"]
    # lossless_jpeg=False: never the plugin's JPEG transcoding path (it reads the source file, not these pixels)
    return _save_pil(
        array,
        "JXL",
        meta,
        exif=exif,
        xmp=xmp,
        quality=quality,
        lossless=lossless,
        effort=effort,
        use_container=True,
        lossless_jpeg=False,
    )


def _encode_tiff(array: np.ndarray, meta: Metadata, text: Mapping[str, str]) -> bytes:
    """Deflate-compressed TIFF with tifffile (Pillow writes no 16-bit colour TIFF): ICC, resolution
    and ``parameters`` as ImageDescription; tifffile cannot write an EXIF IFD, so EXIF is dropped."""
    import numpy as np
    import tifffile

    if array.dtype == np.uint16 and array.shape[2] == 2:
        array = array[:, :, [0, 0, 0, 1]]  # Pillow cannot read 16-bit gray+alpha TIFF back: RGBA
    colour = _colour_channels(array)
    options: dict[str, object] = {
        "photometric": "minisblack" if colour == 1 else "rgb",
        "compression": "zlib",
        "metadata": None,  # no tifffile JSON in ImageDescription
    }
    if colour != array.shape[2]:
        options["extrasamples"] = ["unassalpha"]  # straight alpha, as enhance keeps it
    icc = icc_for(meta.icc_profile, colour)
    if icc:
        options["iccprofile"] = icc
    if meta.dpi:
        options["resolution"] = meta.dpi
        options["resolutionunit"] = "INCH"
    if "parameters" in text:
        options["description"] = text["parameters"].encode("utf-8")
    xmp = xmp_for(text)
    if xmp is not None:
        options["extratags"] = [(700, 1, len(xmp), xmp, True)]  # XMLPacket, BYTE
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array[:, :, 0] if array.shape[2] == 1 else array, **options)
    return buffer.getvalue()


def pil_from_raster(raster: Raster) -> PIL.Image.Image:
    """An 8-bit PIL image (L, LA, RGB or RGBA) of a raster, with its metadata in ``info``.

    16-bit samples are rounded to 8 bits (``round(v / 257)``).
    """
    import numpy as np
    import PIL.Image

    array = _check_array(raster.array)
    if array.dtype == np.uint16:
        array = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    im = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    meta = raster.meta
    for key, value in (meta.text or {}).items():
        im.info[key] = value
    if meta.icc_profile:
        im.info["icc_profile"] = meta.icc_profile
    if meta.exif:
        im.info["exif"] = meta.exif
    if meta.dpi:
        im.info["dpi"] = meta.dpi
    return im


def _check_not_source(source: Path | None, path: Path, allowed: bool) -> None:
    """Refuse to write onto the file the image was read from (same resolved path or same inode)."""
    if allowed or source is None:
        return
    source = Path(source)
    same = path.resolve() == source.resolve()
    if not same and path.exists() and source.exists():
        with contextlib.suppress(OSError):
            same = os.path.samefile(path, source)
    if same:
        raise ValueError(
            f"{path}: is the input this image was read from; outputs never overwrite inputs, choose another path"
        )
