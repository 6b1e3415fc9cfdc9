"""Build PNG metadata chunks and splice them into an encoded PNG byte stream.

enhance's PNG encoders (libvips, OpenCV; :mod:`.pngwrite`) write pixels only. These few functions
add what enhance carries (ICC profile, EXIF, text, resolution) to the bytes they produced,
following the PNG specification (third edition): a chunk is ``length | type | data |
CRC-32(type + data)``; ``iCCP``, ``eXIf`` and ``pHYs`` must come before the first ``IDAT``, so
everything goes right after ``IHDR``. Written by hand because no well-kept library does this for
bytes another encoder made; Pillow reads the result back.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "PNG_SIGNATURE",
    "chunk",
    "iter_chunks",
    "insert_chunks",
    "icc_chunk",
    "exif_chunk",
    "text_chunk",
    "phys_chunk",
    "metadata_chunks",
    "valid_keyword",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_HEADER = b"Exif\x00\x00"
#: chunks that describe colour the same way an iCCP does; at most one of them should be present
_COLOUR_CHUNKS = (b"iCCP", b"sRGB", b"gAMA", b"cHRM")


def chunk(kind: bytes, data: bytes) -> bytes:
    """One complete chunk: big-endian length, 4-byte type, data, CRC-32 of type and data."""
    if len(kind) != 4:
        raise ValueError(f"PNG chunk type must be 4 bytes, got {kind!r}")
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def iter_chunks(png: bytes) -> Iterator[tuple[bytes, bytes, int, int]]:
    """Yield ``(type, data, start, end)`` for each chunk; ``png[start:end]`` is the whole chunk."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG byte stream (bad signature)")
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        kind = png[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(png):
            raise ValueError(f"PNG chunk {kind!r} runs past the end of the data")
        yield kind, png[pos + 8 : pos + 8 + length], pos, end
        pos = end
        if kind == b"IEND":
            return
    raise ValueError("PNG byte stream ends before its IEND chunk")


def insert_chunks(png: bytes, chunks: Iterable[bytes], *, drop: Iterable[bytes] = ()) -> bytes:
    """Insert complete ``chunks`` right after ``IHDR``.

    Existing chunks of the same type are removed first (text chunks excepted: a PNG may hold many),
    and so are ``sRGB``/``gAMA``/``cHRM`` when an ``iCCP`` is inserted, since a profile supersedes them,
    and any of the types in ``drop`` (the ``pHYs`` libvips always writes). Only the chunks before the
    first ``IDAT`` are looked at (where every chunk inserted here must be); the rest is copied as one
    slice, which keeps a splice into a 4096² file (thousands of 8 KiB ``IDAT`` chunks) to one copy.
    """
    chunks = list(chunks)
    kinds = {c[4:8] for c in chunks} - {b"tEXt", b"zTXt", b"iTXt"}
    kinds.update(drop)
    if b"iCCP" in kinds:
        kinds.update(_COLOUR_CHUNKS)
    out = [PNG_SIGNATURE]
    inserted = False
    for kind, _data, start, end in iter_chunks(png):
        if kind == b"IDAT":
            out.append(png[start:])
            break
        if kind in kinds:
            continue
        out.append(png[start:end])
        if kind == b"IHDR":
            out.extend(chunks)
            inserted = True
    if not inserted:
        raise ValueError("PNG byte stream has no IHDR chunk")
    return b"".join(out)


def valid_keyword(key: str) -> bool:
    """Whether ``key`` can name a PNG text chunk: 1-79 Latin-1 characters, no NUL, no edge spaces."""
    if not 0 < len(key) < 80 or "\x00" in key or key != key.strip() or "  " in key:
        return False
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def icc_chunk(profile: bytes, name: str = "ICC Profile") -> bytes:
    """``iCCP``: profile name, NUL, compression method 0 (zlib), compressed profile."""
    return chunk(b"iCCP", name.encode("latin-1") + b"\x00\x00" + zlib.compress(profile))


def exif_chunk(exif: bytes) -> bytes:
    """``eXIf``: the TIFF-structured EXIF block, without JPEG's ``Exif\\0\\0`` APP1 header."""
    return chunk(b"eXIf", exif[len(_EXIF_HEADER) :] if exif.startswith(_EXIF_HEADER) else exif)


def text_chunk(key: str, value: str) -> bytes:
    """``tEXt`` when ``value`` is Latin-1, else ``iTXt`` (UTF-8), uncompressed, as Pillow writes them.

    A value that came from an ``iTXt`` chunk (Pillow's ``PngImagePlugin.iTXt``, a ``str`` with
    ``lang`` and ``tkey``) stays an ``iTXt`` with its language tag and translated keyword.
    """
    if not valid_keyword(key):
        raise ValueError(f"invalid PNG text keyword {key!r}: 1-79 Latin-1 characters, no edge spaces")
    lang, tkey = getattr(value, "lang", None), getattr(value, "tkey", None)
    if lang is None and tkey is None:
        try:
            return chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
        except UnicodeEncodeError:
            pass
    lang_b = lang.encode("ascii") if isinstance(lang, str) else (lang or b"")
    tkey_b = tkey.encode("utf-8") if isinstance(tkey, str) else (tkey or b"")
    data = key.encode("latin-1") + b"\x00\x00\x00" + lang_b + b"\x00" + tkey_b + b"\x00" + value.encode("utf-8")
    return chunk(b"iTXt", data)


def phys_chunk(dpi: tuple[float, float]) -> bytes:
    """``pHYs``: pixels per metre on x and y, unit 1 (metre)."""
    x, y = (round(d / 0.0254) for d in dpi)
    return chunk(b"pHYs", struct.pack(">IIB", x, y, 1))


def metadata_chunks(
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    text: Mapping[str, str] | None = None,
    dpi: tuple[float, float] | None = None,
) -> list[bytes]:
    """The chunks for enhance's metadata, in a valid order (all may precede ``IDAT``)."""
    chunks = []
    if icc_profile:
        chunks.append(icc_chunk(icc_profile))
    if dpi:
        chunks.append(phys_chunk(dpi))
    if exif:
        chunks.append(exif_chunk(exif))
    for key, value in (text or {}).items():
        chunks.append(text_chunk(key, value))
    return chunks
