"""What an ICC profile says about the pixels it travels with: its name, whether it is sRGB, and
whether its tone curve is linear; and converting pixels from a profile to sRGB.

Reading a profile's tags is a few lines of ``struct`` (ICC.1:2022, section 7: a 128-byte header,
a tag table, tagged elements); littleCMS (through Pillow's ImageCms) does the colour conversion.
"""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["colour_space", "describe", "is_srgb", "tone_curve", "to_srgb"]

#: sRGB's primaries adapted to D50, as ICC profiles store them (rXYZ, gXYZ, bXYZ)
_SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _tags(profile: bytes) -> dict[bytes, bytes]:
    if len(profile) < 132:
        return {}
    (count,) = struct.unpack_from(">I", profile, 128)
    tags = {}
    for i in range(min(count, (len(profile) - 132) // 12)):
        signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        tags[signature] = profile[offset : offset + size]
    return tags


def colour_space(profile: bytes) -> str | None:
    """The profile's data colour space (``RGB``, ``GRAY``, ``CMYK``...), from its header."""
    return profile[16:20].decode("latin-1").strip() if len(profile) >= 128 else None


def describe(profile: bytes) -> str | None:
    """The profile's description (``"Display P3"``), from its ``desc`` tag (ICC v2 text or v4 mluc)."""
    tag = _tags(profile).get(b"desc")
    if not tag or len(tag) < 12:
        return None
    try:
        if tag[:4] == b"desc":
            (length,) = struct.unpack_from(">I", tag, 8)
            return tag[12 : 12 + length].split(b"\x00", 1)[0].decode("latin-1").strip() or None
        if tag[:4] == b"mluc":
            (records,) = struct.unpack_from(">I", tag, 8)
            if records:
                length, offset = struct.unpack_from(">II", tag, 16 + 4)
                return tag[offset : offset + length].decode("utf-16-be").strip("\x00 ") or None
    except (struct.error, UnicodeDecodeError):
        return None
    return None


def tone_curve(profile: bytes) -> str:
    """The profile's tone curve: ``linear``, ``srgb``, ``gamma 2.20``..., or ``other`` (a table or a
    LUT-based profile: not one of the simple cases)."""
    tags = _tags(profile)
    curve = tags.get(b"rTRC") or tags.get(b"kTRC")
    if curve is None or len(curve) < 12:
        return "other"
    try:
        if curve[:4] == b"curv":
            (count,) = struct.unpack_from(">I", curve, 8)
            if count == 0:
                return "linear"
            if count == 1:
                gamma = struct.unpack_from(">H", curve, 12)[0] / 256
                return "linear" if abs(gamma - 1) < 0.01 else f"gamma {gamma:.2f}"
            values = struct.unpack_from(f">{count}H", curve, 12)
            middle = values[count // 2] / 65535  # the curve at input 0.5
            if abs(middle - 0.5) < 0.01:
                return "linear"
            return "srgb" if abs(middle - 0.214) < 0.005 else "other"
        if curve[:4] == b"para":
            (kind,) = struct.unpack_from(">H", curve, 8)
            gamma = struct.unpack_from(">i", curve, 12)[0] / 65536
            if kind == 0:
                return "linear" if abs(gamma - 1) < 0.01 else f"gamma {gamma:.2f}"
            if kind in (3, 4) and abs(gamma - 2.4) < 0.01:
                return "srgb"
    except struct.error:
        pass
    return "other"


def _primaries(profile: bytes) -> tuple[tuple[float, ...], ...] | None:
    tags = _tags(profile)
    out = []
    for signature in (b"rXYZ", b"gXYZ", b"bXYZ"):
        tag = tags.get(signature)
        if tag is None or len(tag) < 20:
            return None
        out.append(tuple(v / 65536 for v in struct.unpack_from(">iii", tag, 8)))
    return tuple(out)


def is_srgb(profile: bytes) -> bool:
    """Whether the profile is sRGB: named so, or sRGB's primaries with sRGB's tone curve."""
    if colour_space(profile) != "RGB":
        return False
    if "srgb" in (describe(profile) or "").casefold():
        return True
    primaries = _primaries(profile)
    return (
        primaries is not None
        and all(
            abs(a - b) < 0.003
            for got, ref in zip(primaries, _SRGB_PRIMARIES, strict=True)
            for a, b in zip(got, ref, strict=True)
        )
        and tone_curve(profile) == "srgb"
    )


def to_srgb(array: np.ndarray, profile: bytes) -> np.ndarray:
    """8-bit RGB(A) pixels converted from ``profile`` to sRGB (littleCMS, relative colorimetric
    with black-point compensation); alpha is kept as it is. Colours outside sRGB are clipped."""
    import numpy as np
    import PIL.Image
    from PIL import ImageCms

    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    transform = ImageCms.buildTransform(
        source,
        ImageCms.createProfile("sRGB"),
        "RGB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
    colour = ImageCms.applyTransform(PIL.Image.fromarray(np.ascontiguousarray(array[:, :, :3])), transform)
    converted = np.asarray(colour)
    if array.shape[2] == 4:
        converted = np.concatenate([converted, array[:, :, 3:]], axis=2)
    return np.ascontiguousarray(converted)
