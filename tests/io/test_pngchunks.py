"""enhance.io.pngchunks: chunks Pillow reads back, spliced into an OpenCV PNG at the right place."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import PIL.Image
import pytest
from PIL import ImageCms
from PIL.PngImagePlugin import iTXt

from enhance.io import pngchunks as pc


def opencv_png(channels: int = 3) -> bytes:
    array = np.random.default_rng(0).integers(0, 65536, (4, 5, channels), dtype=np.uint16)
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def test_chunk_layout_and_crc():
    data = pc.chunk(b"tEXt", b"k\x00v")
    assert data[:4] == struct.pack(">I", 3) and data[4:8] == b"tEXt" and data[8:11] == b"k\x00v"
    assert data[11:] == struct.pack(">I", zlib.crc32(b"tEXtk\x00v"))
    with pytest.raises(ValueError):
        pc.chunk(b"tEX", b"")


def test_metadata_chunks_read_back_with_pillow():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PIL.Image.Exif()
    exif[0x010F] = "Cam"
    text = {"parameters": "steps: 20", "prompt": "雪", "tagged": iTXt("hello", "en", "Hallo")}
    chunks = pc.metadata_chunks(icc_profile=icc, exif=exif.tobytes(), text=text, dpi=(300, 300))
    png = pc.insert_chunks(opencv_png(), chunks)

    kinds = [kind for kind, *_ in pc.iter_chunks(png)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert kinds.index(b"iCCP") < kinds.index(b"IDAT") and kinds.index(b"eXIf") < kinds.index(b"IDAT")
    assert kinds.count(b"tEXt") == 1 and kinds.count(b"iTXt") == 2  # Latin-1 → tEXt, the rest iTXt

    im = PIL.Image.open(io.BytesIO(png))
    im.load()
    assert im.info["icc_profile"] == icc
    assert im.getexif()[0x010F] == "Cam"
    assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert dict(im.text) == {"parameters": "steps: 20", "prompt": "雪", "tagged": "hello"}
    assert im.text["tagged"].lang == "en" and im.text["tagged"].tkey == "Hallo"


def test_insert_replaces_same_kind_and_colour_chunks_but_keeps_text():
    base = pc.insert_chunks(
        opencv_png(),
        [pc.chunk(b"sRGB", b"\x00"), pc.chunk(b"gAMA", struct.pack(">I", 45455)), pc.text_chunk("a", "1")],
    )
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    png = pc.insert_chunks(base, [pc.icc_chunk(icc), pc.text_chunk("b", "2")])
    kinds = [kind for kind, *_ in pc.iter_chunks(png)]
    assert b"sRGB" not in kinds and b"gAMA" not in kinds and kinds.count(b"iCCP") == 1
    assert kinds.count(b"tEXt") == 2


def test_exif_chunk_drops_the_jpeg_app1_header():
    _, data, *_ = next(pc.iter_chunks(pc.PNG_SIGNATURE + pc.exif_chunk(b"Exif\x00\x00MM\x00*rest")))
    assert data == b"MM\x00*rest"


@pytest.mark.parametrize(
    "key, ok", [("parameters", True), ("", False), ("x" * 80, False), (" lead", False), ("雪", False)]
)
def test_valid_keyword(key, ok):
    assert pc.valid_keyword(key) is ok
    if not ok:
        with pytest.raises(ValueError):
            pc.text_chunk(key, "v")


def test_bad_streams_are_rejected():
    with pytest.raises(ValueError, match="signature"):
        list(pc.iter_chunks(b"GIF89a"))
    with pytest.raises(ValueError, match="past the end"):
        list(pc.iter_chunks(opencv_png()[:60]))
    with pytest.raises(ValueError, match="before its IEND"):
        list(pc.iter_chunks(opencv_png()[:33]))
