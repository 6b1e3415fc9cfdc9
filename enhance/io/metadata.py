"""Image metadata in both directions: what a decoded file carries and what an encoder keeps.

Reading: the EXIF as Pillow holds it (WebP's without its APP1 header given one), the orientation
tag (applied to the pixels by :mod:`.decoding`, then reset to 1 here, in the EXIF and in an XMP
copy, so a viewer does not turn the image again), TIFF's descriptive tags and EXIF/GPS sub-IFDs
(not its pixel-layout tags), PNG text chunks (ImageMagick's legacy EXIF copies dropped: the EXIF
enhance carries supersedes them), ICC profile and resolution.

XMP is kept for every format under the PNG text key ``XML:com.adobe.xmp`` (PNG's own place for it),
so one rule carries it: written back as PNG text, or into JPEG, WebP, AVIF, JPEG XL and TIFF (tag
700) where the format has a place for it. Its ``dcterms:provenance`` is never written back: that is
a reference to the source's C2PA manifest, which the new pixels would not match.

Writing: an ICC profile only where its colour space matches the pixels, PNG text only under valid
keywords, and ``parameters`` in the EXIF UserComment for formats without PNG text (the
AUTOMATIC1111 convention). The table of what each format keeps is in :mod:`enhance.io`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..credentials.detect import strip_provenance
from ..image import Metadata
from .formats import READABLE
from .pngchunks import valid_keyword

if TYPE_CHECKING:
    import PIL.Image

__all__ = [
    "exif_with_parameters",
    "file_metadata",
    "icc_for",
    "meta_from_pil",
    "orientation",
    "png_text",
    "xmp_for",
    "XMP_KEY",
]

_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _USER_COMMENT = 0x8769, 0x8825, 0x9286
#: TIFF base-IFD tags that are EXIF-style descriptions rather than pixel layout, kept from TIFF input
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)  # Make Model Software DateTime Artist Copyright
#: legacy ImageMagick copies of EXIF in PNG text: superseded by the EXIF enhance carries
_LEGACY_EXIF_TEXT = ("Raw profile type exif", "Raw profile type APP1")
#: where XMP rides in :attr:`Metadata.text <enhance.image.Metadata.text>` for every format
XMP_KEY = "XML:com.adobe.xmp"


def orientation(exif: Mapping[int, object]) -> int:
    """The EXIF orientation (1-8; 1 when absent or not a valid value)."""
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def meta_from_pil(im: PIL.Image.Image) -> Metadata:
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
    xmp = info.get("xmp") if XMP_KEY not in text else None  # JPEG, WebP, AVIF, TIFF: one XMP packet
    if isinstance(xmp, bytes) and xmp.strip():
        text[XMP_KEY] = xmp.decode("utf-8", errors="replace").strip("\x00")
    return Metadata(
        format=READABLE.get(im.format or ""),
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


def file_metadata(im: PIL.Image.Image, exif: PIL.Image.Exif, fmt: str, orientation_in_file: int) -> Metadata:
    """The metadata of a decoded file, upright: its EXIF with the orientation reset to 1 (for a
    TIFF, the descriptive tags only), legacy EXIF text copies dropped, an XMP copy of the
    orientation reset too. ``exif`` is the loaded image's EXIF, ``orientation_in_file`` the tag
    as the file had it before decoding."""
    meta = meta_from_pil(im)
    meta.exif = tiff_exif(exif) if fmt == "TIFF" else upright_exif(im, exif, orientation_in_file)
    for key in _LEGACY_EXIF_TEXT:
        meta.text.pop(key, None)
    if orientation_in_file != 1 and XMP_KEY in meta.text:
        meta.text[XMP_KEY] = upright_xmp(meta.text[XMP_KEY])
    return meta


def upright_exif(im: PIL.Image.Image, exif: PIL.Image.Exif, orientation: int) -> bytes | None:
    """The file's EXIF with the orientation tag reset to 1; the original bytes when it already was."""
    raw = im.info.get("exif")
    if orientation == 1 and isinstance(raw, bytes) and raw:
        return raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw
    if not len(exif):
        return None
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes()


def tiff_exif(tags: PIL.Image.Exif) -> bytes | None:
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


def upright_xmp(xmp: str) -> str:
    """XMP may repeat the orientation; say 1 there too, or viewers that read it turn the image again."""
    xmp = re.sub(r'tiff:Orientation="[0-9]"', 'tiff:Orientation="1"', xmp)
    return re.sub(r"<tiff:Orientation>[0-9]</tiff:Orientation>", "<tiff:Orientation>1</tiff:Orientation>", xmp)


def png_text(meta: Metadata) -> dict[str, str]:
    """The text entries an encoder may write: those under a valid PNG keyword, the XMP without a
    reference to the source's C2PA manifest."""
    text = {k: v for k, v in (meta.text or {}).items() if valid_keyword(k)}
    if XMP_KEY in text:
        text[XMP_KEY] = strip_provenance(text[XMP_KEY])
    return text


def xmp_for(text: Mapping[str, str]) -> bytes | None:
    """The XMP packet to write into a non-PNG format, from :func:`png_text`'s entries."""
    xmp = text.get(XMP_KEY)
    return xmp.encode("utf-8") if xmp and xmp.strip() else None


def icc_for(profile: bytes | None, colour_channels: int) -> bytes | None:
    """The profile when its colour space (ICC header bytes 16-19) matches the pixels, else None."""
    if not profile or len(profile) < 128:
        return None
    return profile if profile[16:20] == (b"GRAY" if colour_channels == 1 else b"RGB ") else None


def exif_with_parameters(exif: bytes | None, parameters: str | None) -> bytes | None:
    """EXIF with ``parameters`` in UserComment, as AUTOMATIC1111 writes JPEG/WebP (``UNICODE\\0`` + UTF-16BE)."""
    if parameters is None:
        return exif
    import PIL.Image

    tags = PIL.Image.Exif()
    if exif:
        tags.load(exif)
    tags.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\x00" + parameters.encode("utf-16-be")
    return tags.tobytes()
