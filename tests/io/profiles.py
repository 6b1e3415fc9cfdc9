"""Small ICC v2 matrix/TRC profiles made in the tests: a wide-gamut (Display P3 primaries) one with
the sRGB curve, linear ones, and a gamma one, so colour handling is tested without profile files."""

from __future__ import annotations

import struct

#: Display P3's and sRGB's primaries adapted to D50 (rXYZ, gXYZ, bXYZ), as profiles store them
P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
SRGB = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
_D50 = (0.9642, 1.0, 0.8249)


def _fixed(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _fixed(x) + _fixed(y) + _fixed(z)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8) + bytes(3) + bytes(67)


def _curve(trc: str | float) -> bytes:
    if trc == "linear":
        return b"curv" + bytes(4) + struct.pack(">I", 0)
    if trc == "srgb":  # parametric type 3: Y = (aX + b)^g for X >= d, else cX
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_fixed(v) for v in params)
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(float(trc) * 256)) + bytes(2)


def rgb_profile(name: str = "Test Display P3", primaries=P3, trc: str | float = "srgb") -> bytes:
    """An RGB display profile: ``trc`` is ``"srgb"``, ``"linear"`` or a gamma."""
    curve = _curve(trc)
    tags = [
        (b"desc", _desc(name)),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
        (b"wtpt", _xyz(*_D50)),
        (b"rXYZ", _xyz(*primaries[0])),
        (b"gXYZ", _xyz(*primaries[1])),
        (b"bXYZ", _xyz(*primaries[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        body += bytes(-(offset + len(body)) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)  # date
        + b"acspAPPL"
        + bytes(4 + 4 + 4 + 8 + 4)  # flags, manufacturer, model, attributes, intent
        + _fixed(_D50[0])
        + _fixed(_D50[1])
        + _fixed(_D50[2])
        + bytes(4 + 16 + 28)  # creator, id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
