"""Decode image files (and PIL images) into rasters with their metadata.

PNG, JPEG (MPO too), WebP, TIFF, AVIF, GIF and (with ``enhance[jxl]``) JPEG XL, whatever the file
is named: 8- and 16-bit gray, gray+alpha, RGB, RGBA, palette (→ RGB/RGBA, transparency honoured)
and CMYK (→ RGB through the embedded ICC profile when there is one); float TIFFs through
:mod:`.floattiff`. The EXIF orientation is applied to the pixels (and reset to 1 by
:mod:`.metadata`). Pillow decodes and reads the metadata; OpenCV decodes the pixels of 16-bit
colour PNGs and TIFFs, which Pillow reduces to 8 bits. An animated file (GIF, WebP, AVIF, APNG)
gives its first frame, and its record says so. Content credentials (C2PA) are looked for in the
bytes read and summarised (:mod:`enhance.credentials`). A file that cannot be used raises
:class:`~enhance.errors.InputError` with one line naming it, what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..credentials.detect import container_of, find_credentials
from ..errors import InputError, first_line
from ..image import Image, Metadata, Raster, to_image
from .formats import READABLE
from .metadata import XMP_KEY, file_metadata, meta_from_pil, orientation

if TYPE_CHECKING:
    import numpy as np
    import PIL.Image
    import torch

__all__ = ["MAX_PIXELS", "decode", "raster_from_pil", "read"]

#: largest image decoded, in pixels (16384 x 16384): a guard against decompression bombs
MAX_PIXELS = 2**28
_PILLOW_DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
_READS = "enhance reads PNG, JPEG, WebP, TIFF, AVIF, JPEG XL and GIF"


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
    from .floattiff import is_float_tiff

    if is_float_tiff(data):
        raster = _decode_float_tiff(data, path, name)
    else:
        im = _open(data, name)
        try:
            raster = _decode_opened(im, data, path, name)
        finally:
            im.close()
    _note_credentials(raster.meta, data)
    return raster


def _note_credentials(meta: Metadata, data: bytes) -> None:
    """Record the source's content credentials: found in the bytes (cheap), then read offline by
    c2pa only when there are some (and c2pa is installed)."""
    found = find_credentials(data, xmp=meta.text.get(XMP_KEY))
    if found is not None:
        from ..credentials.summary import summarize

        meta.content_credentials = summarize(data, found)


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
    if container_of(data) == "JXL":
        _load_jxl_plugin(name)
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
    fmt = READABLE.get(im.format or "")
    if fmt is None:
        im.close()
        raise InputError(f"{name}: {im.format} images are not supported ({_READS}); convert it to PNG first")
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise _too_large(name, f"{width}x{height} = {width * height:,} pixels")
    return im


def _unidentified(name: str, data: bytes) -> str:
    """The message for bytes Pillow cannot identify: say what they look like."""
    head = data[:16]
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return (
            f"{name}: this Pillow cannot decode AVIF (it needs Pillow 11.3 or newer built with libavif); upgrade Pillow"
        )
    if head[4:8] == b"ftyp":
        return f"{name}: HEIF/HEIC images are not supported ({_READS}); convert it first"
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
    return f"{name}: not an image (unrecognised content); {_READS}"


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

    fmt = READABLE[im.format or ""]
    with _corrupt_data(name):
        # TIFF decoders apply the orientation themselves and drop the tag: note it before loading
        orientation_in_file = orientation(im.getexif())
        frames = int(getattr(im, "n_frames", 1) or 1)  # counting frames may seek: back to the first
        if frames > 1:
            im.seek(0)
        im.load()
        exif = im.getexif()
    remaining = orientation(exif)  # what the pixels still need (Pillow applied the rest)
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

    meta = file_metadata(im, exif, fmt, orientation_in_file)
    meta.source = path.resolve()
    meta.format = fmt
    meta.mode = mode
    meta.bit_depth = 16 if array.dtype == np.uint16 else 8
    if not profile_applies:
        meta.icc_profile = None
    if frames > 1:
        meta.warnings.append(f"animated {fmt} ({frames} frames): only the first frame was processed")
    return Raster(array, meta)


def _load_jxl_plugin(name: str) -> None:
    """Register pillow-jxl-plugin's JPEG XL codec with Pillow (``enhance[jxl]``, GPL-3.0-or-later:
    imported only here, when a JPEG XL file is read, and by the JPEG XL writer)."""
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        raise InputError(
            f"{name}: reading JPEG XL needs pillow-jxl-plugin (GPL-3.0-or-later, not installed by default): "
            "pip install 'enhance[jxl]', or convert the file to PNG"
        ) from None


def _decode_float_tiff(data: bytes, path: Path, name: str) -> Raster:
    """A float TIFF as 16-bit sRGB-encoded samples (see :mod:`.floattiff` for the rule)."""
    from .floattiff import read_float_tiff

    with _corrupt_data(name):
        try:
            tiff = read_float_tiff(data, max_pixels=MAX_PIXELS)
        except ValueError as exc:
            raise InputError(f"{name}: {exc}") from None
    array = _orient(tiff.array, tiff.orientation)
    meta = Metadata(
        source=path.resolve(),
        format="TIFF",
        mode=tiff.mode,
        bit_depth=16,
        icc_profile=tiff.icc_profile,
        dpi=tiff.dpi,
        warnings=list(tiff.notes),
    )
    return Raster(array if array.flags.c_contiguous else array.copy(), meta)


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


def raster_from_pil(image: PIL.Image.Image) -> Raster:
    """A PIL image as a raster, without rotating it: its EXIF is kept as is, so the orientation tag
    keeps describing these pixels. Palette, CMYK and other modes convert as :func:`decode` does.

    Raises ValueError for modes enhance does not handle (32-bit float, LAB...).
    """
    import numpy as np

    converted, profile_applies = _normalise_mode(image)
    array = _array(converted)
    meta = meta_from_pil(image)
    meta.bit_depth = 16 if array.dtype == np.uint16 else 8
    if not profile_applies:
        meta.icc_profile = None
    return Raster(array, meta)
