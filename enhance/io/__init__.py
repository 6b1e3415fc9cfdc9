"""Read and write image files with their metadata; writes are atomic and never touch the input.

Reading (:func:`decode`, :func:`read`) takes PNG, JPEG (MPO too), WebP, TIFF (float TIFF too),
AVIF, GIF and, with ``enhance[jxl]``, JPEG XL, whatever the file is named: 8- and 16-bit gray,
gray+alpha, RGB, RGBA, palette (→ RGB/RGBA, transparency honoured) and CMYK (→ RGB through the
embedded ICC profile when there is one). The EXIF orientation is applied to the pixels and the tag
reset to 1. Pillow decodes and reads the metadata; OpenCV decodes the pixels of 16-bit colour PNGs
and TIFFs, which Pillow reduces to 8 bits; tifffile decodes float TIFFs (no ICC profile, or a
linear one: linear light, encoded with the sRGB curve; otherwise the values as they are; either way
16-bit from then on, and the record says which). An animated GIF, WebP, AVIF or APNG gives its
first frame, with a warning in the record (a JPEG XL animation cannot be told apart: its plugin
returns one frame and no count). A file that cannot be used raises :class:`InputError` with one
line naming it, what is wrong and what to do. Content credentials (C2PA) found in a source are
summarised in ``meta.content_credentials`` (:mod:`enhance.credentials`).

Writing (:func:`encode`, :func:`write`) picks the format from the suffix and keeps what it can:

======== ===== ==================================== =======================================
format   depth ICC, EXIF, XMP, resolution           text (PNG tEXt/zTXt/iTXt chunks)
======== ===== ==================================== =======================================
PNG      8, 16 all four (XMP as iTXt)               all keys (tEXt if Latin-1, else iTXt)
JPEG     8     all four                             ``parameters`` → EXIF UserComment
WebP     8     ICC, EXIF, XMP (no resolution)       ``parameters`` → EXIF UserComment
TIFF     8, 16 ICC, XMP, resolution (no EXIF)       ``parameters`` → ImageDescription
AVIF     8     ICC, EXIF, XMP (no resolution)       ``parameters`` → EXIF UserComment
JPEG XL  8     EXIF, XMP; sRGB only (no ICC: other  ``parameters`` → EXIF UserComment
               RGB profiles are converted to sRGB)
======== ===== ==================================== =======================================

Putting ``parameters`` into the EXIF UserComment (``UNICODE`` + UTF-16BE) is the AUTOMATIC1111
convention for targets without PNG text; every other text key (ComfyUI's ``prompt`` and
``workflow``, for instance) is dropped there. Also dropped: JPEG comments, EXIF in TIFF output
(tifffile, the TIFF writer, writes no EXIF directory, and Pillow's compressed TIFF writer fails on
one), PNG text keys that are not valid PNG keywords, an ICC profile whose colour space does not
match the pixels (an RGB profile on gray output), and always the source's content credentials: a
C2PA manifest is bound to the source's bytes, so no output carries it (nor the XMP reference to a
remote one); ``output.content_credentials`` signs a new one (:mod:`enhance.credentials.signing`).
JPEG has no alpha: transparent pixels are composited onto white (straight alpha, in the
sRGB-encoded values, as browsers display them); keep PNG, WebP, TIFF, AVIF or JPEG XL to keep
alpha. 16-bit output is PNG or TIFF only (AVIF and JPEG XL could hold more, their Pillow writers do
not); 16-bit gray+alpha is written as RGBA (OpenCV has no two-channel PNG writer, and Pillow cannot
read a two-channel 16-bit TIFF back). JPEG XL goes through pillow-jxl-plugin, GPL-3.0-or-later:
an opt-in extra (``enhance[jxl]``), imported only when a JPEG XL file is read or written.

Outputs are written to a temporary file beside the target and renamed over it
(:func:`enhance.files.atomic_output`), so a crash or Ctrl-C never leaves a partial image, and an
output is never written onto the file its image was read from.

The package: :mod:`.formats` (suffixes and format names), :mod:`.decoding` (files and PIL images
to rasters), :mod:`.floattiff` (float TIFF input), :mod:`.metadata` (EXIF, ICC, XMP and text, both
directions), :mod:`.icc` (what a profile says; conversion to sRGB), :mod:`.encoding` (rasters to
files) and :mod:`.pngchunks` (metadata chunks for the PNGs OpenCV writes). Every public name is
importable from here.
"""

from __future__ import annotations

from ..files import TEMP_MARKER, atomic_output, atomic_write_bytes, remove_stale_temps
from .decoding import MAX_PIXELS, decode, raster_from_pil, read
from .encoding import (
    DEFAULT_QUALITY,
    PNG_COMPRESS_LEVEL,
    encode,
    encode_bytes,
    encode_notes,
    jxl_available,
    pil_from_raster,
    write,
)
from .formats import EIGHT_BIT_ONLY, SUPPORTED_SUFFIXES, WRITABLE, format_for_suffix, suffix_for_format

__all__ = [
    "DEFAULT_QUALITY",
    "EIGHT_BIT_ONLY",
    "SUPPORTED_SUFFIXES",
    "WRITABLE",
    "MAX_PIXELS",
    "TEMP_MARKER",
    "PNG_COMPRESS_LEVEL",
    "decode",
    "read",
    "encode",
    "encode_bytes",
    "encode_notes",
    "jxl_available",
    "write",
    "raster_from_pil",
    "pil_from_raster",
    "format_for_suffix",
    "suffix_for_format",
    "atomic_output",
    "atomic_write_bytes",
    "remove_stale_temps",
]
