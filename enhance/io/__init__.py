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

The package: :mod:`.formats` (suffixes and format names), :mod:`.decoding` (files and PIL images
to rasters), :mod:`.metadata` (EXIF, ICC, XMP and text, both directions), :mod:`.encoding`
(rasters to files) and :mod:`.pngchunks` (metadata chunks for the PNGs OpenCV writes). Every
public name is importable from here.
"""

from __future__ import annotations

from ..files import TEMP_MARKER, atomic_output, atomic_write_bytes, remove_stale_temps
from .decoding import MAX_PIXELS, decode, raster_from_pil, read
from .encoding import PNG_COMPRESS_LEVEL, encode, encode_bytes, pil_from_raster, write
from .formats import EIGHT_BIT_ONLY, SUPPORTED_SUFFIXES, format_for_suffix, suffix_for_format

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
