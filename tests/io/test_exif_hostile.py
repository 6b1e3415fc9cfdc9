"""Garbage EXIF in an input is dropped (a warning in the record), never copied into an output;
invalid orientation values are reset to 1; every output reads back in enhance."""

from __future__ import annotations

import struct

import numpy as np
import PIL.Image
import pytest

from enhance import io
from enhance.image import Metadata, Raster
from enhance.io.metadata import exif_problem

_TIFF_LE = b"Exif\x00\x00II*\x00"


def _ifd(*entries: tuple[int, int, int, int], following: int = 0) -> bytes:
    body = b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return struct.pack("<H", len(entries)) + body + struct.pack("<I", following)


GARBAGE = {
    "bad IFD offset": _TIFF_LE + struct.pack("<I", 0xFFFFFF00),
    "truncated IFD": _TIFF_LE + b"\x08\x00\x00\x00\x05\x00\x12\x01\x03\x00",
    "wrong byte order": b"Exif\x00\x00XX*\x00\x08\x00\x00\x00\x00\x00",
    "huge count": _TIFF_LE + b"\x08\x00\x00\x00" + _ifd((0x010F, 2, 0x7FFFFFFF, 26)),
    "sub-IFD loop": _TIFF_LE + b"\x08\x00\x00\x00" + _ifd((0x8769, 4, 1, 8)),
    "unknown type": _TIFF_LE + b"\x08\x00\x00\x00" + _ifd((0x010F, 99, 1, 0)),
}


def _pixels() -> np.ndarray:
    return (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", sorted(GARBAGE))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_garbage_exif_is_dropped_with_a_warning_and_never_written(tmp_path, kind: str, fmt: str) -> None:
    source = tmp_path / f"in.{fmt.lower()}"
    PIL.Image.fromarray(_pixels()).save(source, fmt, exif=GARBAGE[kind])
    raster = io.decode(source)
    assert raster.meta.exif is None
    assert any("EXIF dropped" in w for w in raster.meta.warnings)
    for out_fmt in ("jpeg", "png", "webp", "tiff"):
        out = io.encode(raster, tmp_path / f"out.{out_fmt}")
        back = io.decode(out)  # enhance reads its own output
        assert not back.meta.warnings and exif_problem(back.meta.exif) is None
        if out_fmt != "tiff":  # a TIFF's own descriptive tags (its writer's name) come back as EXIF
            assert back.meta.exif is None
        assert GARBAGE[kind][6:] not in out.read_bytes()


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_orientation_is_reset_to_one(tmp_path, value: int) -> None:
    exif = PIL.Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = value
    source = tmp_path / "in.jpg"
    PIL.Image.fromarray(_pixels()).save(source, exif=exif.tobytes())
    raster = io.decode(source)
    assert raster.array.shape[:2] == (24, 32)  # not turned
    assert any(f"orientation {value} is not a valid value" in w for w in raster.meta.warnings)
    back = io.decode(io.encode(raster, tmp_path / "out.jpg"))
    tags = PIL.Image.open(tmp_path / "out.jpg").getexif()
    assert tags[0x0112] == 1 and tags[0x010F] == "TestCam"
    assert not back.meta.warnings


def test_the_encoder_drops_garbage_exif_it_is_handed(tmp_path) -> None:
    raster = Raster(_pixels(), Metadata(exif=GARBAGE["bad IFD offset"]))
    out = io.encode(raster, tmp_path / "out.jpg")
    assert "exif" not in PIL.Image.open(out).info
    io.decode(out)


def test_sound_exif_passes_the_check() -> None:
    exif = PIL.Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0a comment long enough to be stored apart"
    exif.get_ifd(0x8825)[1] = "N"
    assert exif_problem(exif.tobytes()) is None
    assert exif_problem(b"\x00" * 3) == "truncated header"
