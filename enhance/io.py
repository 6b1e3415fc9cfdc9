"""Read and write image files with their metadata; writes are atomic and never touch the input.

Reading (:func:`decode`, :func:`read`) takes PNG, JPEG (MPO too), WebP and TIFF, whatever the file
is named: 8- and 16-bit gray, gray+alpha, RGB, RGBA, palette (→ RGB/RGBA, transparency honoured)
and CMYK (→ RGB through the embedded ICC profile when there is one). The EXIF orientation is
applied to the pixels and the tag reset to 1. Pillow decodes and reads the metadata; OpenCV
decodes the pixels of 16-bit colour PNGs and TIFFs, which Pillow reduces to 8 bits. The first
frame of an animated file is used. A file that cannot be used raises :class:`InputError` with one
line naming it, what is wrong and what to do.

Writing (:func:`encode`, :func:`write`) picks the format from the suffix and keeps what it can:

======== ===== ================================== =======================================
format   depth ICC, EXIF, resolution              text (PNG tEXt/zTXt/iTXt chunks)
======== ===== ================================== =======================================
PNG      8, 16 all three                          all keys (tEXt if Latin-1, else iTXt)
JPEG     8     all three                          ``parameters`` → EXIF UserComment
WebP     8     ICC, EXIF (WebP has no resolution) ``parameters`` → EXIF UserComment
TIFF     8, 16 ICC, resolution (no EXIF)          ``parameters`` → ImageDescription
======== ===== ================================== =======================================

Putting ``parameters`` into the EXIF UserComment (``UNICODE`` + UTF-16BE) is the AUTOMATIC1111
convention for targets without PNG text; every other text key (ComfyUI's ``prompt`` and
``workflow``, for instance) is dropped there. Also dropped: XMP (outside PNG text), JPEG comments,
EXIF in TIFF output (tifffile, the TIFF writer, writes no EXIF directory, and Pillow's compressed
TIFF writer fails on one), PNG text keys that are not valid PNG keywords, and an ICC profile whose
colour space does not match the pixels (an RGB profile on gray output). JPEG has no alpha:
transparent pixels are composited onto white (straight alpha, in the sRGB-encoded values, as
browsers display them); keep PNG, WebP or TIFF to keep alpha. 16-bit output is PNG or TIFF only;
16-bit gray+alpha is written as RGBA (OpenCV has no two-channel PNG writer, and Pillow cannot read
a two-channel 16-bit TIFF back).

Outputs are written to a temporary file beside the target and renamed over it
(:func:`enhance.files.atomic_output`), so a crash or Ctrl-C never leaves a partial image, and an
output is never written onto the file its image was read from.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, first_line
from .files import TEMP_MARKER, atomic_output, atomic_write_bytes, remove_stale_temps
from .image import Image, Metadata, Raster, from_image, to_image

if TYPE_CHECKING:
    import numpy as np
    import PIL.Image
    import torch

__all__ = [
    "EIGHT_BIT_ONLY",
    "SUPPORTED_SUFFIXES",
    "MAX_PIXELS",
    "TEMP_MARKER",
    "PNG_COMPRESS_LEVEL",
    "decode",
    "read",
    "encode",
    "encode_bytes",
    "write",
    "raster_from_pil",
    "pil_from_raster",
    "format_for_suffix",
    "suffix_for_format",
    "atomic_output",
    "atomic_write_bytes",
    "remove_stale_temps",
]

#: input suffixes the batch runner discovers (lower case); outputs use the same set
SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
#: largest image decoded, in pixels (16384 x 16384): a guard against decompression bombs
MAX_PIXELS = 2**28
#: default PNG zlib level: 4 writes a 4K photo ~2.5x faster than Pillow's default 6 for files ~6%
#: larger (BENCHMARKS.md, "io"); encoding is the slow end of a batch, so speed wins by default
PNG_COMPRESS_LEVEL = 4

_SUFFIX_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
_FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}
#: Pillow's format name -> ours, for the formats enhance reads
_READABLE = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "TIFF": "TIFF"}
#: output formats that hold 8-bit samples only (16-bit output is refused for them)
EIGHT_BIT_ONLY = ("JPEG", "WEBP")
_PILLOW_DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _USER_COMMENT = 0x8769, 0x8825, 0x9286
#: TIFF base-IFD tags that are EXIF-style descriptions rather than pixel layout, kept from TIFF input
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)  # Make Model Software DateTime Artist Copyright
#: legacy ImageMagick copies of EXIF in PNG text: superseded by the EXIF enhance carries
_LEGACY_EXIF_TEXT = ("Raw profile type exif", "Raw profile type APP1")
_XMP_KEY = "XML:com.adobe.xmp"
_JPEG_MAX_EXIF = 65533  # one APP1 segment
_WEBP_MAX_SIDE = 16383


# -- formats -----------------------------------------------------------------------------------


def format_for_suffix(suffix: str) -> str:
    """``".jpg"`` (or ``"jpg"``, any case) → ``"JPEG"``; one of ``PNG``, ``JPEG``, ``WEBP``, ``TIFF``."""
    key = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    try:
        return _SUFFIX_FORMAT[key]
    except KeyError:
        raise ValueError(f"unsupported image suffix {suffix!r}: use one of {', '.join(SUPPORTED_SUFFIXES)}") from None


def suffix_for_format(fmt: str) -> str:
    """``"JPEG"`` (or ``"jpg"``, any case) → ``".jpg"``: the suffix enhance gives that format."""
    return _FORMAT_SUFFIX[format_for_suffix(fmt)]


def _output_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return format_for_suffix(fmt)
    if not path.suffix:
        raise ValueError(f"{path}: no suffix to choose the format from: add one ({', '.join(SUPPORTED_SUFFIXES)})")
    return format_for_suffix(path.suffix)


def _check_depth(fmt: str, bit_depth: int, path: Path | str) -> None:
    if bit_depth == 16 and fmt in EIGHT_BIT_ONLY:
        raise ValueError(f"{path}: {fmt} holds 8-bit samples only; write 16-bit images as .png or .tif, or use 8 bits")


# -- reading -----------------------------------------------------------------------------------


def read(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> Image:
    """Decode an image file and upload it to ``device`` as an :class:`~enhance.image.Image`."""
    return to_image(decode(path), device)


def decode(path: str | os.PathLike[str]) -> Raster:
    """Decode an image file into a :class:`~enhance.image.Raster` (``HxWxC`` uint8 or uint16).

    C is 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA). The metadata holds the source path, format,
    mode, bit depth, ICC profile, EXIF (orientation applied to the pixels, tag reset to 1), PNG text
    chunks and resolution. The file's bytes are read once.

    Raises:
        InputError: the file is missing, empty, truncated, not an image, in a format enhance does
            not read, or larger than :data:`MAX_PIXELS`; the message says which, and what to do.
    """
    path = Path(path)
    name = str(path)
    data = _read_bytes(path, name)
    im = _open(data, name)
    try:
        return _decode_opened(im, data, path, name)
    finally:
        im.close()


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: file not found; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a folder, not an image file; pass the images inside it") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied; make the file readable") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the disk and the file") from exc
    if not data:
        raise InputError(f"{name}: file is empty (0 bytes); re-export or remove it")
    return data


def _configure_pillow() -> None:
    import PIL.Image

    # Pillow's own guard warns above ~89 Mpx and refuses above ~179 Mpx, below enhance's explicit
    # MAX_PIXELS check; lift it to that limit unless the embedding program chose its own value.
    if PIL.Image.MAX_IMAGE_PIXELS == _PILLOW_DEFAULT_MAX_PIXELS:
        PIL.Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _too_large(name: str, size: str) -> InputError:
    return InputError(
        f"{name}: image is {size}, over enhance's limit of {MAX_PIXELS:,} pixels (2**28, a guard against "
        "decompression bombs); downscale it first"
    )


def _open(data: bytes, name: str) -> PIL.Image.Image:
    import PIL.Image

    _configure_pillow()
    try:
        im = PIL.Image.open(io.BytesIO(data))
    except PIL.Image.DecompressionBombError:
        raise _too_large(name, "too large") from None
    except PIL.UnidentifiedImageError:
        raise InputError(_unidentified(name, data)) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise InputError(
            f"{name}: image header is truncated or corrupt ({first_line(exc, limit=160)}); re-export or re-download it"
        ) from exc
    fmt = _READABLE.get(im.format or "")
    if fmt is None:
        im.close()
        raise InputError(
            f"{name}: {im.format} images are not supported (enhance reads PNG, JPEG, WebP and TIFF); "
            "convert it to PNG first"
        )
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise _too_large(name, f"{width}x{height} = {width * height:,} pixels")
    return im


def _unidentified(name: str, data: bytes) -> str:
    """The message for bytes Pillow cannot identify: say what they look like."""
    head = data[:16]
    if head[4:8] == b"ftyp":
        return f"{name}: HEIF/AVIF images are not supported (enhance reads PNG, JPEG, WebP and TIFF); convert it first"
    magic = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
    fmt = next((f for prefix, f in magic.items() if head.startswith(prefix)), None)
    if fmt is None and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        fmt = "WebP"
    if fmt is not None:
        return f"{name}: {fmt} header is truncated, corrupt or a variant that cannot be decoded; re-export it"
    sample = data[:1024]
    text = sample.decode("utf-8", errors="replace")
    if b"\x00" not in sample and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.95 * len(text):
        return f"{name}: not an image, it holds text (starting {text[:40]!r}); check what was saved under this name"
    return f"{name}: not an image (unrecognised content); enhance reads PNG, JPEG, WebP and TIFF"


@contextlib.contextmanager
def _corrupt_data(name: str) -> Iterator[None]:
    """Turn a decoder's failure on bad bytes into one :class:`InputError` line."""
    try:
        yield
    except (InputError, MemoryError):
        raise
    except Exception as exc:
        raise InputError(
            f"{name}: image data is truncated or corrupt ({first_line(exc, limit=160)}); re-export or re-download it"
        ) from exc


def _decode_opened(im: PIL.Image.Image, data: bytes, path: Path, name: str) -> Raster:
    import numpy as np

    fmt = _READABLE[im.format or ""]
    with _corrupt_data(name):
        # TIFF decoders apply the orientation themselves and drop the tag: note it before loading
        orientation_in_file = _orientation(im.getexif())
        im.load()
        exif = im.getexif()
    remaining = _orientation(exif)  # what the pixels still need (Pillow applied the rest)
    try:
        converted, profile_applies = _normalise_mode(im)
        array = _array(converted)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}; convert it to 8- or 16-bit RGB first") from None
    mode = im.mode
    high = _high_bit_channels(im, data, fmt)
    if high is not None:
        array = _decode_16bit(data, array, high, orientation_in_file, name)
        mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[array.shape[2]]
    array = _orient(array, remaining)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)  # a copy, so writable too
    elif not array.flags.writeable:
        array = array.copy()

    meta = _meta_from_pil(im)
    meta.source = path.resolve()
    meta.format = fmt
    meta.mode = mode
    meta.bit_depth = 16 if array.dtype == np.uint16 else 8
    if not profile_applies:
        meta.icc_profile = None
    meta.exif = _tiff_exif(exif) if fmt == "TIFF" else _upright_exif(im, exif, orientation_in_file)
    for key in _LEGACY_EXIF_TEXT:
        meta.text.pop(key, None)
    if orientation_in_file != 1 and _XMP_KEY in meta.text:
        meta.text[_XMP_KEY] = _upright_xmp(meta.text[_XMP_KEY])
    return Raster(array, meta)


def _orientation(exif: Mapping[int, object]) -> int:
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to ``HxWxC`` pixels: the view a viewer would show."""
    import numpy as np

    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return array[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(array, 1)
    return array


_INVERSE_ORIENTATION = {6: 8, 8: 6}


def _high_bit_channels(im: PIL.Image.Image, data: bytes, fmt: str) -> int | None:
    """Channel count of a 16-bit colour image Pillow reduced to 8 bits, else None.

    (Pillow keeps 16-bit gray as ``I;16``; it is the colour and gray+alpha layouts it reduces.)
    """
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) > 25 and data[24] == 16:
        return {2: 3, 4: 2, 6: 4}.get(data[25])  # IHDR colour type: RGB, gray+alpha, RGBA
    if fmt == "TIFF" and im.mode in ("RGB", "RGBA"):
        bits = im.tag_v2.get(258)  # BitsPerSample
        bits = bits if isinstance(bits, tuple) else (bits,)
        if bits and all(b == 16 for b in bits):
            return len(im.mode)
    return None


def _decode_16bit(data: bytes, pil8: np.ndarray, channels: int, orientation: int, name: str) -> np.ndarray:
    """Decode 16-bit colour pixels with OpenCV, in Pillow's channel order and orientation.

    Pillow's 8-bit reading of the same file is the high byte of each sample; matching it checks the
    channel order and settles whether OpenCV applied the orientation (it does for TIFF, not PNG).
    """
    import cv2
    import numpy as np

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise InputError(f"{name}: the 16-bit pixels could not be decoded; re-export the image")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] >= 3:
        array = array[:, :, [2, 1, 0, 3][: array.shape[2]]]  # OpenCV's BGR(A) -> RGB(A)
    if channels == 2:  # gray+alpha comes back as RGBA from both decoders
        array, pil8 = array[:, :, [0, 3]], pil8[:, :, [0, 3]]
    for candidate in (array, _orient(array, orientation), _orient(array, _INVERSE_ORIENTATION.get(orientation, 0))):
        if candidate.shape == pil8.shape and np.array_equal((candidate >> 8).astype(np.uint8), pil8):
            return candidate
    raise InputError(f"{name}: the 16-bit pixels decode inconsistently; re-export the image")


def _normalise_mode(im: PIL.Image.Image) -> tuple[PIL.Image.Image, bool]:
    """Convert to L, LA, RGB, RGBA or a 16-bit gray mode; also say whether the ICC profile still applies.

    Raises ValueError for pixel modes enhance does not handle.
    """
    mode = im.mode
    keyed = im.info.get("transparency") is not None
    if mode in ("LA", "RGBA") or (mode in ("L", "RGB") and not keyed):
        return im, True
    if mode in ("1", "L", "P", "RGB"):
        target = {"1": "L", "L": "L", "P": "RGB", "RGB": "RGB"}[mode]
        return im.convert(target + "A" if keyed else target), True
    if mode in ("PA", "RGBa"):
        return im.convert("RGBA"), True
    if mode == "La":
        return im.convert("LA"), True
    if mode in ("RGBX", "YCbCr"):
        return im.convert("RGB"), True
    if mode.startswith("I;16") or mode == "I":
        return im, True
    if mode == "CMYK":
        return _cmyk_to_rgb(im), False
    raise ValueError(f"pixel mode {mode} is not supported (gray, RGB, RGBA, palette and CMYK are)")


def _cmyk_to_rgb(im: PIL.Image.Image) -> PIL.Image.Image:
    """CMYK → sRGB through the embedded profile (relative colorimetric with black-point
    compensation, as Photoshop converts); Pillow's naive formula when there is no usable profile."""
    profile = im.info.get("icc_profile")
    if profile:
        from PIL import ImageCms

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            srgb = ImageCms.createProfile("sRGB")
            # 1 = relative colorimetric intent, 0x2000 = black-point compensation flag (littleCMS)
            return ImageCms.profileToProfile(im, source, srgb, renderingIntent=1, outputMode="RGB", flags=0x2000)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # an unusable profile: fall back to the formula below
    return im.convert("RGB")


def _array(im: PIL.Image.Image) -> np.ndarray:
    """``HxWxC`` uint8 or uint16 pixels of an image in a mode :func:`_normalise_mode` returns."""
    import numpy as np

    array = np.array(im)
    if im.mode == "I":  # 32-bit integer gray: usable when it holds 16-bit values (older Pillow's 16-bit PNG)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError("32-bit integer samples are not supported (8- and 16-bit are)")
        array = array.astype(np.uint16)
    elif array.dtype.kind == "u" and array.dtype.itemsize == 2:
        array = array.astype(np.uint16)  # big-endian I;16B -> native
    if array.ndim == 2:
        array = array[:, :, None]
    return array


def _meta_from_pil(im: PIL.Image.Image) -> Metadata:
    """Metadata as a PIL image carries it (EXIF as it is, orientation included)."""
    info = im.info
    exif = info.get("exif")
    if isinstance(exif, bytes) and exif and not exif.startswith(_EXIF_HEADER):
        exif = _EXIF_HEADER + exif  # WebP stores it without the APP1 header; keep one form
    if hasattr(im, "text"):  # a PNG file: its text chunks, including those after the pixels
        text = dict(im.text)
    elif im.format is None:  # an image made in memory (convert, copy): PNG text lives in info
        text = {k: v for k, v in info.items() if isinstance(v, str) and k != "compression"}
    else:
        text = {}
    return Metadata(
        format=_READABLE.get(im.format or ""),
        mode=im.mode,
        icc_profile=info.get("icc_profile") or None,
        exif=exif or None,
        text=text,
        dpi=_dpi(info.get("dpi")),
    )


def _dpi(value: object) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _upright_exif(im: PIL.Image.Image, exif: PIL.Image.Exif, orientation: int) -> bytes | None:
    """The file's EXIF with the orientation tag reset to 1; the original bytes when it already was."""
    raw = im.info.get("exif")
    if orientation == 1 and isinstance(raw, bytes) and raw:
        return raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw
    if not len(exif):
        return None
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes()


def _tiff_exif(tags: PIL.Image.Exif) -> bytes | None:
    """EXIF for a TIFF source: its descriptive tags, EXIF and GPS sub-IFDs, not its pixel layout tags."""
    import PIL.Image

    exif = PIL.Image.Exif()
    for tag in _TIFF_EXIF_TAGS:
        if tag in tags:
            exif[tag] = tags[tag]
    for ifd in (_EXIF_IFD, _GPS_IFD):
        if ifd in tags:
            exif.get_ifd(ifd).update(tags.get_ifd(ifd))
    has_ifds = any(exif.get_ifd(ifd) for ifd in (_EXIF_IFD, _GPS_IFD))
    return exif.tobytes() if len(exif) or has_ifds else None


def _upright_xmp(xmp: str) -> str:
    """XMP may repeat the orientation; say 1 there too, or viewers that read it turn the image again."""
    xmp = re.sub(r'tiff:Orientation="[0-9]"', 'tiff:Orientation="1"', xmp)
    return re.sub(r"<tiff:Orientation>[0-9]</tiff:Orientation>", "<tiff:Orientation>1</tiff:Orientation>", xmp)


# -- PIL conversions (for stages called on PIL images) -----------------------------------------


def raster_from_pil(image: PIL.Image.Image) -> Raster:
    """A PIL image as a raster, without rotating it: its EXIF is kept as is, so the orientation tag
    keeps describing these pixels. Palette, CMYK and other modes convert as :func:`decode` does.

    Raises ValueError for modes enhance does not handle (32-bit float, LAB...).
    """
    import numpy as np

    converted, profile_applies = _normalise_mode(image)
    array = _array(converted)
    meta = _meta_from_pil(image)
    meta.bit_depth = 16 if array.dtype == np.uint16 else 8
    if not profile_applies:
        meta.icc_profile = None
    return Raster(array, meta)


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


# -- writing -----------------------------------------------------------------------------------


def write(
    image: Image,
    path: str | os.PathLike[str],
    *,
    bit_depth: int | None = 8,
    dither: bool = True,
    format: str | None = None,
    quality: int = 95,
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
        format: ``png``, ``jpeg``, ``webp`` or ``tiff``; by default from the suffix.
        quality: JPEG/WebP quality (1-100); for lossless WebP, the compression effort.
        lossless: lossless WebP.
        compress_level: PNG zlib level 0-9 (lower is faster and larger; see :data:`PNG_COMPRESS_LEVEL`).
        seed: the dither's seed: the same seed gives the same file.
        overwrite_source: allow writing onto the file the image was read from (refused by default).

    Returns:
        the path written.
    """
    path = Path(path)
    fmt = _output_format(path, format)
    depth = bit_depth if bit_depth is not None else (8 if fmt in EIGHT_BIT_ONLY else image.meta.bit_depth)
    if depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8, 16 or None (as the source), got {bit_depth!r}")
    _check_depth(fmt, depth, path)
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
    quality: int = 95,
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
    fmt = _output_format(path, format)
    _check_not_source(raster.meta.source, path, overwrite_source)
    data = encode_bytes(raster, fmt, quality=quality, lossless=lossless, compress_level=compress_level)
    atomic_write_bytes(path, data)
    return path


def encode_bytes(
    raster: Raster, format: str, *, quality: int = 95, lossless: bool = False, compress_level: int = PNG_COMPRESS_LEVEL
) -> bytes:
    """The encoded file as bytes (what :func:`encode` writes), for callers that keep it in memory."""
    import numpy as np

    fmt = format_for_suffix(format)
    array = _check_array(raster.array)
    _check_depth(fmt, 16 if array.dtype == np.uint16 else 8, f"{fmt} output")
    meta = raster.meta
    text = {k: v for k, v in (meta.text or {}).items() if _valid_keyword(k)}
    if fmt == "PNG":
        return _encode_png(array, meta, text, compress_level)
    if fmt == "TIFF":
        return _encode_tiff(array, meta, text)
    exif = _exif_with_parameters(meta.exif, text.get("parameters"))
    if fmt == "JPEG":
        return _encode_jpeg(array, meta, exif, quality)
    return _encode_webp(array, meta, exif, quality, lossless)


def _check_array(array: np.ndarray) -> np.ndarray:
    import numpy as np

    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"raster must be HxWxC with C in 1..4, got shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"raster must be uint8 or uint16 to encode, got {array.dtype}")
    return array


def _valid_keyword(key: str) -> bool:
    from .pngchunks import valid_keyword

    return valid_keyword(key)


def _icc_for(profile: bytes | None, colour_channels: int) -> bytes | None:
    """The profile when its colour space (ICC header bytes 16-19) matches the pixels, else None."""
    if not profile or len(profile) < 128:
        return None
    return profile if profile[16:20] == (b"GRAY" if colour_channels == 1 else b"RGB ") else None


def _colour_channels(array: np.ndarray) -> int:
    return array.shape[2] - (1 if array.shape[2] in (2, 4) else 0)


def _save_pil(array: np.ndarray, fmt: str, meta: Metadata, *, exif: bytes | None, **options: object) -> bytes:
    """Encode 8-bit pixels with Pillow, adding the ICC profile, EXIF and resolution it can carry."""
    import PIL.Image

    im = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    icc = _icc_for(meta.icc_profile, _colour_channels(array))
    extra = {"icc_profile": icc, "exif": exif, "dpi": meta.dpi if fmt != "WEBP" else None}
    options.update({k: v for k, v in extra.items() if v})
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _encode_png(array: np.ndarray, meta: Metadata, text: Mapping[str, str], compress_level: int) -> bytes:
    import numpy as np

    if array.dtype == np.uint8:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        return _save_pil(array, "PNG", meta, exif=meta.exif, pnginfo=info, compress_level=compress_level)

    import cv2

    from .pngchunks import insert_chunks, metadata_chunks

    if array.shape[2] == 2:  # OpenCV writes 1, 3 or 4 channels: gray+alpha goes out as RGBA
        array = array[:, :, [0, 0, 0, 1]]
    bgr = array[:, :, [2, 1, 0, 3][: array.shape[2]]] if array.shape[2] >= 3 else array
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a 16-bit PNG")
    chunks = metadata_chunks(
        icc_profile=_icc_for(meta.icc_profile, _colour_channels(array)), exif=meta.exif, text=text, dpi=meta.dpi
    )
    return insert_chunks(encoded.tobytes(), chunks)


def _encode_jpeg(array: np.ndarray, meta: Metadata, exif: bytes | None, quality: int) -> bytes:
    if array.shape[2] in (2, 4):
        array = _on_white(array)
    if exif is not None and len(exif) > _JPEG_MAX_EXIF:
        # one APP1 segment holds 64 KiB: give up the parameters copy first, then the EXIF itself
        exif = meta.exif if meta.exif and len(meta.exif) <= _JPEG_MAX_EXIF else None
    # 4:4:4 chroma at high quality: subsampling would soften the detail enhance restores
    subsampling = 0 if quality >= 90 else 2
    return _save_pil(array, "JPEG", meta, exif=exif, quality=quality, subsampling=subsampling, optimize=True)


def _on_white(array: np.ndarray) -> np.ndarray:
    """Composite straight alpha onto white, in the stored (sRGB-encoded) values; 8-bit in, 8-bit out."""
    import numpy as np

    alpha = array[:, :, -1:].astype(np.float32) / 255.0
    colour = array[:, :, :-1].astype(np.float32)
    return np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def _encode_webp(array: np.ndarray, meta: Metadata, exif: bytes | None, quality: int, lossless: bool) -> bytes:
    if max(array.shape[:2]) > _WEBP_MAX_SIDE:
        raise ValueError(f"WebP images are at most {_WEBP_MAX_SIDE} pixels on a side; write PNG or TIFF instead")
    if array.shape[2] == 1:
        array = array[:, :, [0, 0, 0]]  # WebP stores RGB(A) only
    elif array.shape[2] == 2:
        array = array[:, :, [0, 0, 0, 1]]
    # exact: keep the colour under fully transparent pixels, as lossless promises
    return _save_pil(array, "WEBP", meta, exif=exif, quality=quality, lossless=lossless, exact=lossless)


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
    icc = _icc_for(meta.icc_profile, colour)
    if icc:
        options["iccprofile"] = icc
    if meta.dpi:
        options["resolution"] = meta.dpi
        options["resolutionunit"] = "INCH"
    if "parameters" in text:
        options["description"] = text["parameters"].encode("utf-8")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array[:, :, 0] if array.shape[2] == 1 else array, **options)
    return buffer.getvalue()


def _exif_with_parameters(exif: bytes | None, parameters: str | None) -> bytes | None:
    """EXIF with ``parameters`` in UserComment, as AUTOMATIC1111 writes JPEG/WebP (``UNICODE\\0`` + UTF-16BE)."""
    if parameters is None:
        return exif
    import PIL.Image

    tags = PIL.Image.Exif()
    if exif:
        tags.load(exif)
    tags.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\x00" + parameters.encode("utf-16-be")
    return tags.tobytes()


# -- never onto the source -----------------------------------------------------------------------


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
