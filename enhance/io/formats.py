"""The image formats enhance reads and writes: suffixes, format names, and which hold 16 bits.

Shared by both directions (:mod:`.decoding` names what it read, :mod:`.encoding` picks what it
writes), and by the planning that maps input names to output names.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "EIGHT_BIT_ONLY",
    "READABLE",
    "SUPPORTED_SUFFIXES",
    "WRITABLE",
    "check_depth",
    "format_for_suffix",
    "output_format",
    "suffix_for_format",
]

#: input suffixes the batch runner discovers (lower case); outputs use the same set but ``.gif``
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".tif",
    ".tiff",
    ".avif",
    ".jxl",
    ".gif",
)

_SUFFIX_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".avif": "AVIF",
    ".jxl": "JXL",
    ".gif": "GIF",
}
_FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "AVIF": ".avif", "JXL": ".jxl"}
#: the formats enhance writes (GIF is read only: 256 colours cannot hold a restored image)
WRITABLE = tuple(_FORMAT_SUFFIX)
#: Pillow's format name -> ours, for the formats enhance reads (JXL through pillow-jxl-plugin, when installed)
READABLE = {
    "PNG": "PNG",
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "WEBP": "WEBP",
    "TIFF": "TIFF",
    "AVIF": "AVIF",
    "JXL": "JXL",
    "GIF": "GIF",
}
#: output formats that hold 8-bit samples only here (16-bit output is refused for them): AVIF and
#: JPEG XL could hold more, but their Pillow writers take 8-bit colour only
EIGHT_BIT_ONLY = ("JPEG", "WEBP", "AVIF", "JXL")


def format_for_suffix(suffix: str) -> str:
    """``".jpg"`` (or ``"jpg"``, any case) → ``"JPEG"``; one of ``PNG``, ``JPEG``, ``WEBP``, ``TIFF``."""
    key = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    try:
        return _SUFFIX_FORMAT[key]
    except KeyError:
        raise ValueError(f"unsupported image suffix {suffix!r}: use one of {', '.join(SUPPORTED_SUFFIXES)}") from None


def suffix_for_format(fmt: str) -> str:
    """``"JPEG"`` (or ``"jpg"``, any case) → ``".jpg"``: the suffix enhance gives that format.

    Raises:
        ValueError: a format enhance reads but does not write (GIF).
    """
    name = format_for_suffix(fmt)
    try:
        return _FORMAT_SUFFIX[name]
    except KeyError:
        raise ValueError(f"enhance does not write {name} files; write one of {', '.join(WRITABLE)}") from None


def output_format(path: Path, fmt: str | None) -> str:
    """The format to write ``path`` in: ``fmt`` when given, else the one its suffix names.

    Raises:
        ValueError: an unknown format, or no suffix to take it from.
    """
    if fmt is None and not path.suffix:
        raise ValueError(f"{path}: no suffix to choose the format from: add one ({', '.join(_FORMAT_SUFFIX)})")
    name = format_for_suffix(fmt if fmt is not None else path.suffix)
    if name not in WRITABLE:
        raise ValueError(f"{path}: enhance does not write {name} files; write one of {', '.join(WRITABLE)}")
    return name


def check_depth(fmt: str, bit_depth: int, path: Path | str) -> None:
    """Refuse 16-bit samples for a format that holds 8 bits only (ValueError naming ``path``)."""
    if bit_depth == 16 and fmt in EIGHT_BIT_ONLY:
        raise ValueError(f"{path}: {fmt} holds 8-bit samples only; write 16-bit images as .png or .tif, or use 8 bits")
